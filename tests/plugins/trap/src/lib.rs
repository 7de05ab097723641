//! Panics, which in WebAssembly is a trap; `trap.how=overflow` recurses
//! until the stack runs out instead.
use kiln_sdk::{Description, Error, Image, Param, Params, Settings, Transform};

const HOW: Param<&'static str> = Param::choice("how", &["panic", "overflow"])
    .default("panic")
    .doc("How to crash");

struct Trap;

/// Small frames on wasm's own call stack, so that it, not the program's
/// stack in linear memory, runs out.
#[allow(unconditional_recursion)]
#[inline(never)]
fn deeper(n: u64) -> u64 {
    deeper(std::hint::black_box(n) + 1).wrapping_add(1)
}

impl Transform for Trap {
    fn new() -> Self {
        Trap
    }
    fn describe(&self) -> Description {
        Description::transform("trap", "0.2.0", "Crashes").param(&HOW)
    }
    fn transform(&self, _: Image, params: &Params, _: &Settings) -> Result<Image, Error> {
        match params.get(&HOW)? {
            "overflow" => Err(Error::failed(deeper(1).to_string())),
            _ => panic!("deliberate panic"),
        }
    }
}

kiln_sdk::export_transform!(Trap);
