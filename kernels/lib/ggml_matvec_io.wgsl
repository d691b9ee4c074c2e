
// The bindings both ggml mat-vec kernels share (kernels/exact/ggml_matvec.wgsl
// and ggml_matvec_decode.wgsl; `Params` in src/gpu/ggml_matvec.rs).
struct Params {
    rows: u32,        // rows in this dispatch (one chunk of the matrix)
    blocks: u32,      // blocks per row
    row_bytes: u32,   // bytes per row
    w_offset: u32,    // byte offset of the chunk's row 0 in `weights` (even)
    y_offset: u32,    // index of token 0's output for the chunk's row 0
    y_stride: u32,    // values between tokens in `y`
    act_words: u32,   // packed activation words per token
    matrix_rows: u32, // rows of the whole matrix (Q4_K's repacking rule)
    max_tokens: u32,  // tokens the buffers hold
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read> act: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;
@group(0) @binding(4) var<uniform> params: Params;
