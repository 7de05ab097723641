//! Returns a grey image of `grow.width` x `grow.height`, whatever it was
//! given: a plugin whose output may exceed what the server allows.
use kiln_sdk::{Description, Error, Image, Param, Params, Settings, Transform};

const WIDTH: Param<i64> = Param::int("width", 1, 100_000).default(64).doc("Width of the result");
const HEIGHT: Param<i64> = Param::int("height", 1, 100_000).default(64).doc("Height of the result");

struct Grow;

impl Transform for Grow {
    fn new() -> Self {
        Grow
    }
    fn describe(&self) -> Description {
        Description::transform("grow", "0.2.0", "Returns a grey image of the given size")
            .param(&WIDTH)
            .param(&HEIGHT)
    }
    fn transform(&self, _: Image, params: &Params, _: &Settings) -> Result<Image, Error> {
        let (width, height) = (params.get(&WIDTH)? as u32, params.get(&HEIGHT)? as u32);
        // Claims the size without the pixels beyond a bound the test needs.
        let pixels = vec![128; (width as usize * height as usize * 4).min(64 << 20)];
        Ok(Image { width, height, pixels })
    }
}

kiln_sdk::export_transform!(Grow);
