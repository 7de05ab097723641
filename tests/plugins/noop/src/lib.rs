//! Returns its input untouched: the cost of crossing the plugin boundary.
struct Noop;
impl kiln_sdk::Plugin for Noop {
    fn transform(
        image: kiln_sdk::Image,
        _: &kiln_sdk::Settings,
        _: &kiln_sdk::Settings,
    ) -> Result<kiln_sdk::Image, String> {
        Ok(image)
    }
    fn validate(_: &[u8], _: &kiln_sdk::UploadInfo, _: kiln_sdk::Image, _: &kiln_sdk::Settings) -> kiln_sdk::Verdict {
        kiln_sdk::Verdict::Accept
    }
}
kiln_sdk::export!(Noop);
