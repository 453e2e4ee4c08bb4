use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = healthapi::config::Cli::parse();
    healthapi::cli::run(cli)
}
