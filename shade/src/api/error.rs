//! Errors returned by the `try_` allocation APIs.

use std::fmt;

/// Why an allocation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    /// The heap would exceed [`Config::heap_limit`](crate::Config::heap_limit).
    /// The failure asks for a collection in the background; call
    /// [`Mutator::collect`](crate::Mutator::collect) to wait for one, then
    /// retry.
    HeapLimit {
        /// Bytes the failed request needed from the page heap.
        requested: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The heap's reserved address range is exhausted.
    OutOfMemory {
        /// Bytes the failed request needed.
        requested: usize,
    },
    /// The object is larger than any heap can hold.
    TooLarge {
        /// Bytes requested.
        requested: usize,
    },
    /// An array's size in bytes (`len × size_of::<T>()` plus its length
    /// word) does not fit in a `usize`.
    ArrayTooLarge {
        /// Elements requested.
        len: usize,
        /// Bytes per element.
        elem_size: usize,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::HeapLimit { requested, limit } => {
                write!(f, "shade: heap limit of {limit} bytes reached (request needed {requested} more bytes)")
            }
            AllocError::OutOfMemory { requested } => {
                write!(f, "shade: heap address space exhausted (request of {requested} bytes)")
            }
            AllocError::TooLarge { requested } => {
                write!(f, "shade: object of {requested} bytes is too large")
            }
            AllocError::ArrayTooLarge { len, elem_size } => {
                write!(f, "shade: array of {len} elements of {elem_size} bytes is too large (length × size overflows)")
            }
        }
    }
}

impl std::error::Error for AllocError {}
