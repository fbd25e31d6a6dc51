//! `raconn service install|uninstall|run` on Windows: `raconn serve` as a
//! Windows service (the `windows-service` crate over the Service Control
//! Manager), as the reference connector's services run. `install` registers
//! `raconn.exe --config <absolute raconn.toml> service run` to start
//! automatically (delayed) as LocalSystem unless `--account` is given;
//! `run` is what the SCM starts: it reports Running once the API listens,
//! and a Stop or Shutdown control stops claiming and lets in-flight work
//! finish within `grace_s`, as `SIGTERM` does on Unix. Compile-checked for
//! `x86_64-pc-windows-gnu` by the test script; it cannot run here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

use crate::errors::HostError;

/// The service's default name.
pub const NAME: &str = "raconn";

fn err(what: &str) -> impl Fn(windows_service::Error) -> HostError + '_ {
    move |e| HostError::Token(format!("Windows service {what}: {e}"))
}

/// Registers the service for `config` (made absolute).
pub fn install(name: &str, config: &Path, account: Option<(&str, &str)>) -> Result<(), HostError> {
    let config = std::fs::canonicalize(config).map_err(|e| HostError::Read {
        path: config.to_path_buf(),
        err: e,
    })?;
    let exe = std::env::current_exe().map_err(|e| HostError::Read {
        path: PathBuf::from("raconn.exe"),
        err: e,
    })?;
    let m = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CREATE_SERVICE)
        .map_err(err("manager"))?;
    let info = ServiceInfo {
        name: OsString::from(name),
        display_name: OsString::from("raconn certificate connector"),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe,
        launch_arguments: vec![
            OsString::from("--config"),
            config.into_os_string(),
            OsString::from("service"),
            OsString::from("run"),
            OsString::from("--name"),
            OsString::from(name),
        ],
        dependencies: vec![],
        account_name: account.map(|(a, _)| OsString::from(a)),
        account_password: account.map(|(_, p)| OsString::from(p)),
    };
    let s = m
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .map_err(err("create"))?;
    s.set_description(
        "DigiCert PKI Web Services RA connector: the raconn serve API and issuance workers",
    )
    .map_err(err("description"))?;
    s.set_delayed_auto_start(true)
        .map_err(err("delayed start"))?;
    Ok(())
}

/// Removes the service (stopping it first if it runs).
pub fn uninstall(name: &str) -> Result<(), HostError> {
    let m = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(err("manager"))?;
    let s = m
        .open_service(
            name,
            ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
        )
        .map_err(err("open"))?;
    if let Ok(st) = s.query_status() {
        if st.current_state != ServiceState::Stopped {
            let _ = s.stop();
        }
    }
    s.delete().map_err(err("delete"))
}

/// What `run` hands to the SCM's thread.
static RUN: Mutex<Option<(String, PathBuf)>> = Mutex::new(None);

define_windows_service!(ffi_service_main, service_main);

/// Called by the SCM: connects to it and runs the service.
pub fn run(name: &str, config: &Path) -> Result<(), HostError> {
    if let Ok(mut r) = RUN.lock() {
        *r = Some((name.to_string(), config.to_path_buf()));
    }
    service_dispatcher::start(name, ffi_service_main).map_err(err("dispatcher"))
}

fn status(state: ServiceState, accept: ServiceControlAccept, code: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: ServiceExitCode::Win32(code),
        checkpoint: 0,
        wait_hint: Duration::from_secs(60),
        process_id: None,
    }
}

fn service_main(_args: Vec<OsString>) {
    let Some((name, config)) = RUN.lock().ok().and_then(|r| r.clone()) else {
        return;
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = Mutex::new(Some(tx));
    let handler = move |c: ServiceControl| match c {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            if let Some(t) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = t.send(());
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let Ok(h) = service_control_handler::register(&name, handler) else {
        return;
    };
    let _ = h.set_service_status(status(
        ServiceState::StartPending,
        ServiceControlAccept::empty(),
        0,
    ));
    let h2 = h;
    let r = super::run_with(
        &config,
        |addr, workers, instance, scheme| {
            tracing::info!(%addr, workers, instance, scheme, "running as a Windows service");
            let _ = h2.set_service_status(status(
                ServiceState::Running,
                ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
                0,
            ));
        },
        Some(rx),
    );
    let code = match r {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    };
    let _ = h.set_service_status(status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        code,
    ));
}
