//! Small utilities the collector's mechanisms are built from: OS memory
//! calls and CPU clocks. Nothing here knows about objects or spans.

pub(crate) mod os;
