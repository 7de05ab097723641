//! Returns a buffer that does not match the size it claims.
use kiln_sdk::{Description, Error, Image, Params, Settings, Transform};

struct Garbage;

impl Transform for Garbage {
    fn new() -> Self {
        Garbage
    }
    fn describe(&self) -> Description {
        Description::transform("garbage", "0.1.0", "Returns fewer pixels than it claims")
    }
    fn transform(&self, mut image: Image, _: &Params, _: &Settings) -> Result<Image, Error> {
        image.pixels.truncate(image.pixels.len() / 2);
        Ok(image)
    }
}

kiln_sdk::export_transform!(Garbage);
