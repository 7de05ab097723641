//! A validator that never decides.
use kiln_sdk::{Description, Error, Image, Settings, UploadInfo, Validator, Verdict};

struct Stall;

impl Validator for Stall {
    fn new() -> Self {
        Stall
    }
    fn describe(&self) -> Description {
        Description::validator("stall", "0.1.0", "Never decides")
    }
    fn validate(&self, _: &[u8], _: &UploadInfo, _: Image, _: &Settings) -> Result<Verdict, Error> {
        loop {
            std::hint::black_box(());
        }
    }
}

kiln_sdk::export_validator!(Stall);
