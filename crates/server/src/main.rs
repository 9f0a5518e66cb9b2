use std::process::ExitCode;

fn main() -> ExitCode {
    b24lite::cli::main()
}
