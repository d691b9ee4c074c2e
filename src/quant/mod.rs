//! GGML block formats (placeholder: being written).
