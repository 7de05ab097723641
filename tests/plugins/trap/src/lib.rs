//! Panics, which in WebAssembly is a trap.
struct Trap;
impl kiln_sdk::Plugin for Trap {
    fn transform(
        _: kiln_sdk::Image,
        _: &kiln_sdk::Settings,
        _: &kiln_sdk::Settings,
    ) -> Result<kiln_sdk::Image, String> {
        panic!("deliberate panic")
    }
}
kiln_sdk::export!(Trap);
