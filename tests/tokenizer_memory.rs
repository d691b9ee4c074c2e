//! A tokenizer that is dropped leaves nothing behind. tokenizers 0.23's BPE
//! keeps its word cache in a thread-local map keyed by a per-model id and
//! never removes a dropped model's entries, so every import check or model
//! switch grew the runtime's memory for good (fuzzing `tokenizer_from_gguf`
//! reached 2 GB after 2 M inputs). Our BPE models are built without that
//! cache (`src/tokenizer/mod.rs`, `NO_WORD_CACHE`).
//!
//! Memory is counted by this binary's allocator, per thread: every test
//! runs on a thread of its own, so the count is this test's allocations
//! less its frees.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::MODELS;
use locus::tokenizer::Tokenizer;

struct CountingAllocator;

thread_local! {
    /// Bytes this thread allocated and did not free.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(bytes: usize, sign: isize) {
    // A thread being torn down has no counter left; nothing measures it.
    let _ = LIVE.try_with(|live| live.set(live.get() + sign * bytes as isize));
}

// SAFETY: every call goes straight to the system allocator; the counter
// is a plain thread-local cell that allocates nothing.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size(), 1);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(layout.size(), -1);
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn live_bytes() -> isize {
    LIVE.with(Cell::get)
}

/// `i` written in base 26 with the letters a-z after a "v".
fn letters(mut i: usize) -> String {
    let mut word = String::from("v");
    loop {
        word.push(char::from(b'a' + (i % 26) as u8));
        i /= 26;
        if i == 0 {
            return word;
        }
    }
}

/// Builds the tokenizer, encodes `text` with it and drops it.
fn encode_once(metadata: &locus::gguf::Metadata, text: &str) -> usize {
    let tokenizer = Tokenizer::from_gguf(metadata).unwrap();
    tokenizer.encode(text, false, false).unwrap().len()
}

#[test]
fn tokenizers_that_are_dropped_leave_no_memory_behind() {
    // 3,000 distinct words of letters (pre-tokenizers split digits off): a
    // word cache would keep every one of them.
    let text: String = (0..3000).map(|i| format!("{} ", letters(i))).collect();
    // SmolLM2: byte-level BPE; Gemma 3: SentencePiece (BPE with byte
    // fallback).
    for (name, file_name) in [MODELS[0], MODELS[2]] {
        let metadata = common::metadata(file_name);
        // The first build compiles the pre-tokenizer's regexes, which are
        // kept and shared by design (`pretokenize::PreSpec`).
        let tokens = encode_once(&metadata, &text);
        assert!(tokens >= 3000, "{name}: {tokens} tokens");
        let before = live_bytes();
        for _ in 0..3 {
            assert_eq!(encode_once(&metadata, &text), tokens);
        }
        let left = live_bytes() - before;
        // With tokenizers' word cache: about 0.5 MB a tokenizer.
        assert!(
            left < 64 << 10,
            "{name}: 3 tokenizers built, used and dropped left {left} bytes behind"
        );
    }
}
