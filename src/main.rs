use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs `tune_mimalloc` before mimalloc's own constructor: ELF runs prioritised `.init_array.N`
/// entries before the unprioritised ones that C `__attribute__((constructor))` creates.
#[used]
#[unsafe(link_section = ".init_array.00101")]
static TUNE_MIMALLOC: extern "C" fn() = healthapi::cli::tune_mimalloc;

fn main() -> std::process::ExitCode {
    let cli = healthapi::config::Cli::parse();
    healthapi::cli::run(cli)
}
