//! Allocates until something stops it.
use kiln_sdk::{Description, Error, Image, Params, Settings, Transform};

struct Hog;

impl Transform for Hog {
    fn new() -> Self {
        Hog
    }
    fn describe(&self) -> Description {
        Description::transform("hog", "0.1.0", "Allocates without end")
    }
    fn transform(&self, image: Image, _: &Params, _: &Settings) -> Result<Image, Error> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            if hoard.len() == usize::MAX {
                return Ok(image);
            }
        }
    }
}

kiln_sdk::export_transform!(Hog);
