//! Returning freed heap to the operating system.
//!
//! Loading the audience index of 1M customers allocates and frees ~0.5 GB of Arrow buffers
//! and sort scratch. glibc keeps freed chunks inside its heaps, so without a trim the
//! server's resident memory stays ~400 MB above what it uses (measured on the 1M bank:
//! 1.55 GB → 1.15 GB after the trim).

/// Asks the allocator to release free pages. Cheap to call after a bulk load; not for hot
/// paths (it walks the heap under the arena locks).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns unused pages to the kernel; it has no
        // preconditions and is thread-safe (it takes each arena's lock).
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
