//! Returns its input untouched: the cost of crossing the plugin boundary.
//! Its text parameters are ignored; they make long variant keys for tests.
use kiln_sdk::{Description, Error, Image, Param, Params, Settings, Transform};

const A: Param<String> = Param::text("a", 4096).doc("Ignored");
const B: Param<String> = Param::text("b", 4096).doc("Ignored");
const C: Param<String> = Param::text("c", 4096).doc("Ignored");

struct Noop;

impl Transform for Noop {
    fn new() -> Self {
        Noop
    }
    fn describe(&self) -> Description {
        Description::transform("noop", "0.2.0", "Returns its input untouched")
            .param(&A)
            .param(&B)
            .param(&C)
    }
    fn transform(&self, image: Image, _: &Params, _: &Settings) -> Result<Image, Error> {
        Ok(image)
    }
}

kiln_sdk::export_transform!(Noop);
