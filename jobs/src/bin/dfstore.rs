//! The `dfstore` binary; see [`dfstore_jobs::cli::main`].

fn main() -> std::process::ExitCode {
    dfstore_jobs::cli::main()
}
