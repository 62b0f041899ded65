fn main() -> std::process::ExitCode {
    cbrflow::cli::main()
}
