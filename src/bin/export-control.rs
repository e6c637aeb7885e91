//! `export-control`: explain decisions, list the catalog, check policy
//! files and make development license tokens. See `export-control --help`.

fn main() -> std::process::ExitCode {
    tower_export_control::cli::run(std::env::args_os())
}
