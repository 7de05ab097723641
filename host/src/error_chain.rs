//! Errors written out whole, for the log and for operators.

/// An error with every cause under it, `outer: inner: …`. Client libraries
/// (the AWS SDK, reqwest) put only their outermost layer in `Display`; the
/// causes say what actually happened.
pub fn of(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
