//! Never returns.
struct Spin;
impl kiln_sdk::Plugin for Spin {
    fn transform(
        image: kiln_sdk::Image,
        _: &kiln_sdk::Settings,
        _: &kiln_sdk::Settings,
    ) -> Result<kiln_sdk::Image, String> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
            if n == u64::MAX {
                return Ok(image);
            }
        }
    }
    fn validate(_: &[u8], _: &kiln_sdk::UploadInfo, _: kiln_sdk::Image, _: &kiln_sdk::Settings) -> kiln_sdk::Verdict {
        loop {
            std::hint::black_box(());
        }
    }
}
kiln_sdk::export!(Spin);
