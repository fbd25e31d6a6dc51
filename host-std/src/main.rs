fn main() -> std::process::ExitCode {
    raconn_host::cli::main()
}
