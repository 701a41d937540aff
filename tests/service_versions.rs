//! A client and a server built from different versions of a service trait:
//! what still works, and the clear errors for what does not, in both wire
//! forms.
#![cfg(all(feature = "macros", feature = "postcard"))]

mod support;

use tower_ipc::{
    Endpoint,
    codec::LengthPrefixed,
    jsonrpc::{JsonRpc, JsonRpcClient},
    service::{Frames, RpcClient},
    typed::Postcard,
};

use support::{PATIENCE, endpoint};

mod v1 {
    /// The first version.
    #[tower_ipc::service(version = "1.0.0")]
    pub(crate) trait Calc {
        /// Adds.
        async fn add(&self, a: i64, b: i64) -> i64;
        /// Names a number.
        async fn name(&self, n: u64) -> String;
    }

    pub(crate) struct Server;

    impl Calc for Server {
        async fn add(&self, a: i64, b: i64) -> i64 {
            a + b
        }
        async fn name(&self, n: u64) -> String {
            format!("#{n}")
        }
    }
}

mod v2 {
    /// The second version: `add` takes an optional third number, `name`
    /// takes a string, and there is `sqrt`.
    #[tower_ipc::service(version = "2.0.0")]
    pub(crate) trait Calc {
        /// Adds.
        async fn add(&self, a: i64, b: i64, c: Option<i64>) -> i64;
        /// Names a thing.
        async fn name(&self, n: String) -> String;
        /// A square root.
        async fn sqrt(&self, x: f64) -> f64;
    }

    pub(crate) struct Server;

    impl Calc for Server {
        async fn add(&self, a: i64, b: i64, c: Option<i64>) -> i64 {
            a + b + c.unwrap_or(0)
        }
        async fn name(&self, n: String) -> String {
            n
        }
        async fn sqrt(&self, x: f64) -> f64 {
            x.sqrt()
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Form {
    JsonRpc,
    Frames,
}

async fn connect(endpoint: &Endpoint, form: Form) -> RpcClient {
    let stream = endpoint.connect_timeout(PATIENCE).await.unwrap();
    match form {
        Form::JsonRpc => RpcClient::json_rpc(JsonRpcClient::new(stream)),
        Form::Frames => RpcClient::frames(stream, LengthPrefixed::new(), Postcard),
    }
}

async fn serve_v1(form: Form) -> Endpoint {
    let endpoint = endpoint("versions-v1");
    let listener = endpoint.bind().await.unwrap();
    let server = v1::CalcServer::new(v1::Server);
    match form {
        Form::JsonRpc => {
            tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), server).into_future())
        }
        Form::Frames => {
            let frames = Frames::new(LengthPrefixed::new(), Postcard);
            tokio::spawn(tower_ipc::serve(listener, frames, server).into_future())
        }
    };
    endpoint
}

async fn serve_v2(form: Form) -> Endpoint {
    let endpoint = endpoint("versions-v2");
    let listener = endpoint.bind().await.unwrap();
    let server = v2::CalcServer::new(v2::Server);
    match form {
        Form::JsonRpc => {
            tokio::spawn(tower_ipc::serve(listener, JsonRpc::new(), server).into_future())
        }
        Form::Frames => {
            let frames = Frames::new(LengthPrefixed::new(), Postcard);
            tokio::spawn(tower_ipc::serve(listener, frames, server).into_future())
        }
    };
    endpoint
}

const FORMS: [Form; 2] = [Form::JsonRpc, Form::Frames];

#[tokio::test]
async fn an_old_client_calls_a_new_server_that_added_an_optional_argument() {
    for form in FORMS {
        let endpoint = serve_v2(form).await;
        let old = v1::CalcClient::new(connect(&endpoint, form).await);
        assert_eq!(old.add(1, 2).await.unwrap(), 3, "{form:?}");
    }
}

#[tokio::test]
async fn a_new_client_leaves_out_a_none_so_old_servers_still_answer() {
    for form in FORMS {
        let endpoint = serve_v1(form).await;
        let new = v2::CalcClient::new(connect(&endpoint, form).await);
        assert_eq!(new.add(1, 2, None).await.unwrap(), 3, "{form:?}");
        let err = new.add(1, 2, Some(3)).await.unwrap_err();
        assert!(err.is_bad_params(), "{form:?}: {err}");
        let message = err.to_string();
        assert!(
            message.contains("at most 2 params")
                && message.contains("server: Calc 1.0.0; this client: Calc 2.0.0"),
            "{form:?}: {message}"
        );
    }
}

#[tokio::test]
async fn a_method_the_server_lacks_is_an_unknown_method_naming_both_versions() {
    for form in FORMS {
        let endpoint = serve_v1(form).await;
        let new = v2::CalcClient::new(connect(&endpoint, form).await);
        let err = new.sqrt(4.0).await.unwrap_err();
        assert!(err.is_unknown_method(), "{form:?}: {err}");
        assert_eq!(err.method(), "sqrt");
        let message = err.to_string();
        assert!(
            message.contains("`sqrt` was refused by the server: Method not found")
                && message.contains("(server: Calc 1.0.0; this client: Calc 2.0.0)"),
            "{form:?}: {message}"
        );
        // The connection goes on.
        assert_eq!(new.add(2, 2, None).await.unwrap(), 4, "{form:?}");
    }
}

#[tokio::test]
async fn an_argument_of_another_type_is_bad_params_not_a_misparse() {
    for form in FORMS {
        let endpoint = serve_v1(form).await;
        let new = v2::CalcClient::new(connect(&endpoint, form).await);
        let err = new.name("seven".into()).await.unwrap_err();
        assert!(err.is_bad_params(), "{form:?}: {err}");
        assert!(
            err.to_string().contains("Invalid params"),
            "{form:?}: {err}"
        );

        let endpoint = serve_v2(form).await;
        let old = v1::CalcClient::new(connect(&endpoint, form).await);
        let err = old.name(7).await.unwrap_err();
        assert!(err.is_bad_params(), "{form:?}: {err}");
    }
}
