//! `xsplice-build`: thin glue over the `xsplice_build` library. Also acts as the
//! compiler shim when started under another name by a tree's build.

use std::process::ExitCode;

use xsplice_build::wrapper;

fn main() -> ExitCode {
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_default();
    if wrapper::is_shim_invocation(&argv0) {
        let Some(env) = wrapper::WrapperEnv::from_env() else {
            eprintln!("xsplice-build: compiler wrapper started without its settings");
            return ExitCode::from(1);
        };
        return match wrapper::run(&argv0, argv.collect(), &env) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("xsplice-build: {e}");
                ExitCode::from(127)
            }
        };
    }
    ExitCode::from(1)
}
