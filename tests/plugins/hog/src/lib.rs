//! Allocates until something stops it.
struct Hog;
impl kiln_sdk::Plugin for Hog {
    fn transform(
        image: kiln_sdk::Image,
        _: &kiln_sdk::Settings,
        _: &kiln_sdk::Settings,
    ) -> Result<kiln_sdk::Image, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            if hoard.len() == usize::MAX {
                return Ok(image);
            }
        }
    }
}
kiln_sdk::export!(Hog);
