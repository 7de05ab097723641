//! Returns a buffer that does not match the size it claims.
struct Garbage;
impl kiln_sdk::Plugin for Garbage {
    fn transform(
        mut image: kiln_sdk::Image,
        _: &kiln_sdk::Settings,
        _: &kiln_sdk::Settings,
    ) -> Result<kiln_sdk::Image, String> {
        image.pixels.truncate(image.pixels.len() / 2);
        Ok(image)
    }
}
kiln_sdk::export!(Garbage);
