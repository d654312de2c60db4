//! Sources of `serve`: where events come in. Each accepts connections until serve stops,
//! reads one request or message at a time per connection, and hands its events to the
//! shared [`super::pipeline::Pipeline`]; what it answers the client depends on that.

pub mod accept;
pub mod fluent;
pub mod http;
pub mod lines;
