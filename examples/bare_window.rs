//! Benchmark baseline: the least a wry window can do on the same flow (no auth-mode check, no
//! process split, no capture rules): load the URL, read the first JSON main resource, print it.
//! Usage: bare_window TOKEN_URL CA_FILE [SETTING,...]   (Linux; used by bench/login.sh)
//! SETTING (for measuring WebKit settings one at a time against the bare defaults, issue 16):
//! no-accel, no-webgl, no-media, no-page-cache, viewer-cache, no-dns-prefetch, no-smooth-scroll,
//! ephemeral (a private web context).

#[cfg(target_os = "linux")]
fn main() {
    use tao::event::Event;
    use tao::event_loop::{ControlFlow, EventLoopBuilder};
    use tao::platform::unix::WindowExtUnix;
    use tao::window::WindowBuilder;
    use webkit2gtk::{
        CacheModel, HardwareAccelerationPolicy, SettingsExt, URIResponseExt, WebContextExt,
        WebResourceExt, WebViewExt,
    };
    use wry::{PageLoadEvent, WebViewBuilder, WebViewBuilderExtUnix, WebViewExtUnix};

    let args: Vec<String> = std::env::args().collect();
    let (url, ca) = (args[1].clone(), std::fs::read(&args[2]).expect("CA file"));
    let event_loop = EventLoopBuilder::<String>::with_user_event().build();
    let proxy = event_loop.create_proxy();
    let window = WindowBuilder::new()
        .with_visible(false)
        .build(&event_loop)
        .unwrap();
    let loaded = proxy.clone();
    let ephemeral = args
        .get(3)
        .is_some_and(|l| l.split(',').any(|s| s == "ephemeral"));
    let webview = WebViewBuilder::new()
        .with_incognito(ephemeral)
        .with_on_page_load_handler(move |e, u| {
            if matches!(e, PageLoadEvent::Finished) {
                let _ = loaded.send_event(u);
            }
        })
        .build_gtk(window.default_vbox().unwrap())
        .unwrap();
    if let Some(list) = args.get(3) {
        let wk = webview.webview();
        let settings = WebViewExt::settings(&wk).unwrap();
        for name in list.split(',') {
            match name {
                "no-accel" => {
                    settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never)
                }
                "no-webgl" => settings.set_enable_webgl(false),
                "no-media" => {
                    settings.set_enable_media(false);
                    settings.set_enable_mediasource(false);
                    settings.set_enable_webaudio(false);
                    settings.set_enable_encrypted_media(false);
                }
                "no-page-cache" => settings.set_enable_page_cache(false),
                "viewer-cache" => wk
                    .context()
                    .unwrap()
                    .set_cache_model(CacheModel::DocumentViewer),
                "no-dns-prefetch" => settings.set_enable_dns_prefetching(false),
                "no-smooth-scroll" => settings.set_enable_smooth_scrolling(false),
                "ephemeral" => {}
                other => panic!("unknown setting {other}"),
            }
        }
    }
    // Same certificate trust as the product (the emulator's per-run CA), without the checks.
    webview
        .webview()
        .connect_load_failed_with_tls_errors(move |wv, uri, cert, _| {
            let host = url::Url::parse(uri)
                .unwrap()
                .host_str()
                .unwrap()
                .to_string();
            let _ = &ca;
            wv.context()
                .unwrap()
                .allow_tls_certificate_for_host(cert, &host);
            wv.load_uri(uri);
            true
        });
    webview.load_url(&url).unwrap();
    let mut webview = Some(webview);
    event_loop.run(move |event, _, control_flow| {
        *control_flow = ControlFlow::Wait;
        if let Event::UserEvent(_) = event {
            let wk = webview.as_ref().unwrap().webview();
            // Error pages (the first TLS failure) finish without a resource: skip them.
            let Some(res) = wk.main_resource() else {
                return;
            };
            let json = res
                .response()
                .and_then(|r| r.mime_type())
                .is_some_and(|m| m == "application/json");
            if json {
                let body = std::rc::Rc::new(std::cell::RefCell::new(None));
                let b = body.clone();
                let ctx = webkit2gtk::glib::MainContext::default();
                res.data(None::<&webkit2gtk::gio::Cancellable>, move |r| {
                    *b.borrow_mut() = Some(r.unwrap())
                });
                while body.borrow().is_none() {
                    ctx.iteration(true);
                }
                println!(
                    "{}",
                    String::from_utf8_lossy(body.borrow().as_ref().unwrap())
                );
                webview.take();
                *control_flow = ControlFlow::ExitWithCode(0);
            }
        }
    });
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("bare_window is the Linux benchmark baseline");
}
