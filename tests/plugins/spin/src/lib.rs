//! Never returns.
use kiln_sdk::{Description, Error, Image, Params, Settings, Transform};

struct Spin;

impl Transform for Spin {
    fn new() -> Self {
        Spin
    }
    fn describe(&self) -> Description {
        Description::transform("spin", "0.1.0", "Never returns")
    }
    fn transform(&self, image: Image, _: &Params, _: &Settings) -> Result<Image, Error> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
            if n == u64::MAX {
                return Ok(image);
            }
        }
    }
}

kiln_sdk::export_transform!(Spin);
