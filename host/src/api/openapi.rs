//! `GET /openapi.json`: the HTTP API as an OpenAPI 3.1 document, built with
//! utoipa from the types the handlers answer with (their `ToSchema`
//! derives) and one declaration per operation here, next to the route
//! table it must cover (`router_is_documented` holds the two together, and
//! schemathesis checks the running server against the document).
//!
//! Asset paths have one to 32 segments; OpenAPI's path parameters hold one,
//! so `{path}` is declared as one segment and the description says so.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HeaderBuilder, InfoBuilder, KnownFormat, LicenseBuilder, OpenApi,
    OpenApiBuilder, Paths, Ref, RefOr, Required, Response as Answer, Tag,
};

use super::assets::{Link, MOST_VARIANTS, MadeVariants, VariantBatch};
use super::error::{ApiError, ErrorBody};
use super::explain::Explanation;
use super::management::{KeyView, Listing, Purged, PurgedUnder, VariantList};
use super::operations::{PluginsWithStats, Replayed, Top, Usage, Webhooks};
use super::upload::UrlIngest;
use super::{PublicPlugins, SignRequest, SignedUrl, Status};
use crate::catalog::EntryMetadata;
use crate::views::EntryView;

/// `GET /openapi.json`: made once, then served from memory.
pub async fn serve() -> Result<Response, ApiError> {
    static DOCUMENT: OnceLock<Result<String, String>> = OnceLock::new();
    let made = DOCUMENT.get_or_init(|| document_json().map_err(|error| error.to_string()));
    let text = made
        .as_ref()
        .map_err(|error| ApiError::Internal(format!("the OpenAPI document: {error}")))?;
    let content_type = HeaderValue::from_static("application/json");
    Ok(([(header::CONTENT_TYPE, content_type)], text.as_str()).into_response())
}

/// The document as `docs/openapi.json` holds it: pretty, with a final newline.
pub fn document_json() -> Result<String, serde_json::Error> {
    document().to_pretty_json().map(|text| text + "\n")
}

/// One segment of an asset path: `[A-Za-z0-9._~-]`, but not `.`, `..` or `-`.
const SEGMENT: &str =
    r"([A-Za-z0-9_~][A-Za-z0-9._~-]*|-[A-Za-z0-9._~-]+|\.[A-Za-z0-9_~-][A-Za-z0-9._~-]*|\.\.[A-Za-z0-9._~-]+)";
const BEARER: &str = "bearer";

pub fn document() -> OpenApi {
    let mut doc = Doc::default();
    service(&mut doc);
    management(&mut doc);
    assets(&mut doc);
    let components = transformation_params()
        .into_iter()
        .fold(ComponentsBuilder::new(), |components, parameter| {
            components.parameter(parameter.name.clone(), parameter)
        })
        .schemas_from_iter(doc.schemas)
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `[[api-keys]]` (`kiln generate-key`), with the scopes the operation names.",
                    ))
                    .build(),
            ),
        )
        .build();
    let tags = [
        ("assets", "Originals at application paths, and their variants."),
        (
            "management",
            "`/api`: entries, variants, signing, usage, plugins and webhooks.",
        ),
        ("service", "Health, readiness, metrics, profiles, plugins, the console."),
    ]
    .map(|(name, description)| {
        let mut tag = Tag::new(name);
        tag.description = Some(description.into());
        tag
    });
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Kiln")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A self-hosted image service: originals stored at application paths, \
                     variants made on request and cached. Every error answers \
                     `{\"error\", \"message\", \"request_id\"}` (schema `ErrorBody`).",
                ))
                .license(Some(LicenseBuilder::new().name(env!("CARGO_PKG_LICENSE")).build()))
                .build(),
        )
        .paths(doc.paths)
        .components(Some(components))
        .tags(Some(tags))
        .build()
}

#[derive(Default)]
struct Doc {
    paths: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
}

impl Doc {
    /// A reference to `T`'s schema, registered with the schemas it uses.
    fn schema<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name();
        if !self.schemas.iter().any(|(known, _)| *known == name) {
            self.schemas.push((name.to_string(), T::schema()));
            T::schemas(&mut self.schemas);
        }
        Ref::from_schema_name(name).into()
    }

    fn json<T: ToSchema>(&mut self, status: u16, description: &str) -> (u16, Answer) {
        let schema = self.schema::<T>();
        (status, json_answer(description, schema))
    }

    /// Adds the operation; for a GET also its HEAD, answering the same
    /// statuses and headers without bodies.
    fn add(&mut self, path: &str, method: HttpMethod, op: Op) {
        let head = (method == HttpMethod::Get).then(|| op.head());
        let built = op.build(self);
        self.paths.add_path_operation(path, vec![method], built);
        if let Some(head) = head {
            let built = head.build(self);
            self.paths.add_path_operation(path, vec![HttpMethod::Head], built);
        }
    }
}

fn json_answer(description: &str, schema: RefOr<Schema>) -> Answer {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

/// Who may call an operation.
#[derive(Clone, Copy)]
enum Auth {
    Public,
    /// Public where the path's `signing` allows; a key may stand in for a signature.
    Optional,
    /// Any valid key, whatever its scopes.
    AnyKey,
    Key,
}

/// One operation, described close to how its handler reads.
#[derive(Clone)]
struct Op {
    id: String,
    summary: &'static str,
    description: String,
    tag: &'static str,
    auth: Auth,
    params: Vec<Parameter>,
    /// Parameters shared by many operations, in `components/parameters`.
    shared_params: Vec<Ref>,
    body: Option<utoipa::openapi::request_body::RequestBody>,
    answers: Vec<(u16, Answer)>,
    /// `(status, codes)`: errors in `ErrorBody`, the codes in its description.
    errors: Vec<(u16, &'static str)>,
    /// A HEAD: every answer without a body.
    headers_only: bool,
}

fn op(id: &str, tag: &'static str, summary: &'static str) -> Op {
    Op {
        id: id.into(),
        summary,
        description: String::new(),
        tag,
        auth: Auth::Public,
        params: Vec::new(),
        shared_params: Vec::new(),
        body: None,
        answers: Vec::new(),
        errors: Vec::new(),
        headers_only: false,
    }
}

impl Op {
    fn describe(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        if !matches!(auth, Auth::Public) {
            self.errors.push((401, "`unauthorized`: a missing or unknown key"));
        }
        if matches!(auth, Auth::Key) {
            self.errors.push((
                403,
                "`forbidden`: the key lacks the scope, or the path is outside its prefix",
            ));
        }
        self
    }

    fn param(mut self, parameter: Parameter) -> Self {
        self.params.push(parameter);
        self
    }

    fn params(mut self, parameters: impl IntoIterator<Item = Parameter>) -> Self {
        self.params.extend(parameters);
        self
    }

    /// Every transformation parameter, by reference.
    fn transformations(mut self) -> Self {
        self.shared_params = transformation_params()
            .iter()
            .map(|parameter| Ref::new(format!("#/components/parameters/{}", parameter.name)))
            .collect();
        self
    }

    fn body(mut self, body: utoipa::openapi::request_body::RequestBody) -> Self {
        self.body = Some(body);
        self
    }

    fn answer(mut self, (status, answer): (u16, Answer)) -> Self {
        self.answers.push((status, answer));
        self
    }

    fn error(mut self, status: u16, codes: &'static str) -> Self {
        self.errors.push((status, codes));
        self
    }

    fn head(&self) -> Self {
        let mut head = self.clone();
        head.id = format!("{}_head", self.id);
        head.summary = "The same, headers only";
        head.headers_only = true;
        head
    }

    fn build(self, doc: &mut Doc) -> Operation {
        let error_schema = doc.schema::<ErrorBody>();
        let mut builder = OperationBuilder::new()
            .operation_id(Some(self.id))
            .summary(Some(self.summary))
            .tag(self.tag)
            .parameters(Some(self.params))
            .request_body(self.body);
        if !self.description.is_empty() {
            builder = builder.description(Some(self.description));
        }
        for shared in self.shared_params {
            builder = builder.parameter_ref(shared);
        }
        builder = match self.auth {
            Auth::Public => builder,
            Auth::Optional => builder
                .security(SecurityRequirement::default())
                .security(SecurityRequirement::new(BEARER, Vec::<String>::new())),
            Auth::AnyKey | Auth::Key => builder.security(SecurityRequirement::new(BEARER, Vec::<String>::new())),
        };
        let bodiless = |mut answer: Answer| {
            if self.headers_only {
                answer.content.clear();
            }
            answer
        };
        for (status, answer) in self.answers {
            builder = builder.response(status.to_string(), bodiless(answer));
        }
        // Every route can answer these: the edge refuses oversized heads,
        // and a fault of the server is a 500.
        let everywhere = [
            (414, "`uri_too_long`: the URL is over 8 KiB"),
            (431, "`headers_too_large`: over 64 headers or 16 KiB of them"),
            (500, "`internal`: a fault of the server, logged"),
        ];
        let mut errors = self.errors;
        errors.extend(everywhere);
        errors.sort_by_key(|(status, _)| *status);
        for status in errors
            .iter()
            .map(|(status, _)| *status)
            .collect::<std::collections::BTreeSet<_>>()
        {
            let codes: Vec<&str> = errors.iter().filter(|(s, _)| *s == status).map(|(_, c)| *c).collect();
            let mut answer = json_answer(&codes.join("; "), error_schema.clone());
            match status {
                401 => answer = with_header(answer, "WWW-Authenticate", "`Bearer`"),
                405 => answer = with_header(answer, "Allow", "The methods this URL accepts."),
                416 => answer = with_header(answer, "Content-Range", "`bytes */{length}`"),
                503 => answer = with_header(answer, "Retry-After", "Seconds to wait."),
                _ => {}
            }
            builder = builder.response(status.to_string(), bodiless(answer));
        }
        builder.build()
    }
}

fn with_header(mut answer: Answer, name: &str, description: &str) -> Answer {
    let header = HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build();
    answer.headers.insert(name.into(), header.into());
    answer
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn integer(min: i64, max: Option<i64>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(max)
}

fn number(min: f64, max: f64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .minimum(Some(min))
        .maximum(Some(max))
}

fn choice(values: &[&str]) -> ObjectBuilder {
    string().enum_values(Some(values.iter().copied()))
}

fn pattern(regex: &str) -> ObjectBuilder {
    string().pattern(Some(regex))
}

fn query(name: &str, schema: ObjectBuilder, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

fn required(mut parameter: Parameter) -> Parameter {
    parameter.required = Required::True;
    parameter
}

fn in_path(name: &str, schema: ObjectBuilder, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

fn asset_path() -> Parameter {
    in_path(
        "path",
        pattern(&format!("^{SEGMENT}$")).max_length(Some(1024)),
        "The asset path: 1 to 32 segments of `[A-Za-z0-9._~-]` joined by `/` (at most 1024 bytes; \
         no `.`, `..` or `-` segment). Shown here as one segment.",
    )
}

fn entry_number() -> Parameter {
    in_path("entry", integer(1, Some(i64::MAX)), "The entry's number at its path.")
}

/// An asset path without slashes around it: 1 to 32 segments.
fn segments() -> String {
    format!("{SEGMENT}(/{SEGMENT}){{0,31}}")
}

fn prefix() -> Parameter {
    query(
        "prefix",
        pattern(&format!("^/*({SEGMENT}(/{SEGMENT}){{0,31}})?/*$")).max_length(Some(1024)),
        "An asset path: entries at and below it. Empty or absent: every path (a key for `/`).",
    )
}

/// What `GET /api/explain` reads: an http(s) or path URL whose path is an
/// asset path with at most one ordering and one return format after `-`.
fn explainable() -> String {
    let format = "(content|link|redirect|download|metadata|info)";
    let ordering = "(new|modified|entry/[1-9][0-9]{0,17})";
    let selectors = format!("(/-(/{ordering}(/{format})?|/{format}))?");
    format!(
        r"^([hH][tT][tT][pP][sS]?://[^/#]*)?/assets/{}{selectors}(\?[^#]*)?(#[\s\S]*)?$",
        segments()
    )
}

fn required_prefix() -> Parameter {
    required(query(
        "prefix",
        pattern(&format!("^/*{SEGMENT}(/{SEGMENT}){{0,31}}/*$")).max_length(Some(1024)),
        "An asset path: entries at and below it.",
    ))
}

fn day(name: &str, description: &str) -> Parameter {
    query(
        name,
        string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))),
        description,
    )
}

fn text(media_type: &str, description: &str) -> Answer {
    ResponseBuilder::new()
        .description(description)
        .content(media_type, ContentBuilder::new().schema(Some(string())).build())
        .build()
}

fn bare(description: &str) -> Answer {
    ResponseBuilder::new().description(description).build()
}

fn json_body(schema: RefOr<Schema>, description: &str) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .description(Some(description))
        .required(Some(Required::True))
        .content("application/json", ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

/// What a request without a query parameter table refuses a query with.
const NO_PARAMS: &str = "`invalid_param`: this URL takes no query parameters";

fn service(doc: &mut Doc) {
    let status = doc.json::<Status>(200, "The process is up: `{\"status\": \"ok\"}`.");
    doc.add(
        "/health",
        HttpMethod::Get,
        op("health", "service", "Liveness").answer(status),
    );
    let ready = doc.json::<Status>(200, "The catalog and the store answer: `{\"status\": \"ready\"}`.");
    doc.add(
        "/ready",
        HttpMethod::Get,
        op("ready", "service", "Readiness")
            .answer(ready)
            .error(503, "`not_ready`: the catalog or the store does not answer within 2 s"),
    );
    doc.add(
        "/metrics",
        HttpMethod::Get,
        op("metrics", "service", "Prometheus/OpenMetrics series")
            .describe("Needs a key with `admin`; `metrics.listen` serves the same without one on another address.")
            .auth(Auth::Key)
            .answer((
                200,
                text(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    "The `kiln_*` series.",
                ),
            )),
    );
    let profiles = ObjectBuilder::new()
        .additional_properties(Some(ObjectBuilder::new()))
        .description(Some("Each profile's transformation parameters, by profile name."));
    doc.add(
        "/profiles",
        HttpMethod::Get,
        op("profiles", "service", "The configured profiles")
            .answer((200, json_answer("Profiles by name, as configured.", profiles.into()))),
    );
    let plugins = doc.json::<PublicPlugins>(200, "The transforms URLs may name in `fx`, with their parameters.");
    doc.add(
        "/plugins",
        HttpMethod::Get,
        op("plugins", "service", "Transform plugins").answer(plugins),
    );
    doc.add(
        "/openapi.json",
        HttpMethod::Get,
        op("openapi", "service", "This document")
            .answer((200, json_answer("OpenAPI 3.1.", ObjectBuilder::new().into()))),
    );
    let moved = with_header(bare("To `/console/`."), "Location", "`/console/`");
    doc.add(
        "/console",
        HttpMethod::Get,
        op("console_bare", "service", "The web console").answer((308, moved)),
    );
    let etag_answers = |op: Op, media: &str| {
        op.answer((200, text(media, "The file.")))
            .answer((304, bare("Not modified since the `ETag` given in `If-None-Match`.")))
    };
    doc.add(
        "/console/",
        HttpMethod::Get,
        etag_answers(op("console", "service", "The web console's page"), "text/html"),
    );
    doc.add(
        "/console/{file}",
        HttpMethod::Get,
        etag_answers(op("console_file", "service", "A file of the web console"), "*/*")
            .param(in_path("file", pattern("^[A-Za-z0-9._-]{1,64}$"), "The file's name."))
            .error(404, "`not_found`: the console has no such file"),
    );
}

fn management(doc: &mut Doc) {
    let unavailable = "`unavailable`: the catalog or the store does not answer";
    let key = doc.json::<KeyView>(200, "The key's name, scopes and prefix.");
    doc.add(
        "/api/key",
        HttpMethod::Get,
        op("key", "management", "The presented key")
            .describe("The one `/api` route any valid key may call.")
            .auth(Auth::AnyKey)
            .answer(key)
            .error(400, NO_PARAMS),
    );
    let listing = doc.json::<Listing>(200, "A page of entries in path and entry order.");
    doc.add(
        "/api/assets",
        HttpMethod::Get,
        op("list_assets", "management", "List entries")
            .describe("Needs `admin` over `prefix`.")
            .auth(Auth::Key)
            .params([
                prefix(),
                query(
                    "cursor",
                    pattern(&format!("^{}:[0-9]{{1,19}}$", segments())).max_length(Some(1044)),
                    "Where the page starts: after `{path}:{entry}`, as `next_cursor` of the page before says.",
                ),
                query(
                    "limit",
                    integer(1, Some(1000)),
                    "Entries a page: 1 to 1000, 100 by default.",
                ),
            ])
            .answer(listing)
            .error(400, "`invalid_param`: names the parameter")
            .error(503, unavailable),
    );
    let variants_path = "/api/assets/{path}/-/entry/{entry}/variants";
    let list = doc.json::<VariantList>(200, "The entry's made variants.");
    let common = |op: Op| {
        op.auth(Auth::Key)
            .params([asset_path(), entry_number()])
            .error(
                400,
                "`invalid_path`, `invalid_selector`; `invalid_param`: this URL takes no query",
            )
            .error(404, "`not_found`: no such entry")
            .error(503, unavailable)
    };
    doc.add(
        variants_path,
        HttpMethod::Get,
        common(op("entry_variants", "management", "An entry's made variants")).answer(list),
    );
    let purged = doc.json::<Purged>(
        200,
        "How many variants were purged; each is made again when next asked for.",
    );
    doc.add(
        variants_path,
        HttpMethod::Delete,
        common(op("purge_entry_variants", "management", "Purge an entry's variants")).answer(purged),
    );
    let under = doc.json::<PurgedUnder>(200, "Entries looked at and variants purged.");
    doc.add(
        "/api/variants",
        HttpMethod::Delete,
        op("purge_variants", "management", "Purge the variants under a prefix")
            .auth(Auth::Key)
            .param(required_prefix())
            .answer(under)
            .error(400, "`invalid_param`: `prefix` missing or not a path")
            .error(503, unavailable),
    );
    let sign = doc.schema::<SignRequest>();
    let signed = doc.json::<SignedUrl>(200, "The URL, signed with the first signing key.");
    doc.add(
        "/api/sign",
        HttpMethod::Post,
        op("sign", "management", "Sign a URL")
            .describe("Needs `admin`; front ends sign through this so they never hold a signing key.")
            .auth(Auth::Key)
            .body(json_body(sign, "The URL to sign and its lifetime."))
            .answer(signed)
            .error(
                400,
                "`invalid_body`: not JSON of this shape, or not an asset URL; `invalid_param`: `ttl`",
            )
            .error(408, "`request_timeout`: the body came too slowly")
            .error(413, "`payload_too_large`: over `limits.max-json-bytes`")
            .error(415, "`unsupported_media_type`: not `application/json`"),
    );
    let usage = doc.json::<Usage>(200, "Storage now and traffic per day.");
    doc.add(
        "/api/usage",
        HttpMethod::Get,
        op("usage", "management", "Usage under a prefix")
            .describe("Needs `admin` over `prefix`. Days are UTC; the last 30 by default, at most 366.")
            .auth(Auth::Key)
            .params([
                prefix(),
                day("from", "The first day, `YYYY-MM-DD`."),
                day("to", "The last day, `YYYY-MM-DD`; today by default."),
            ])
            .answer(usage)
            .error(400, "`invalid_param`: names the parameter")
            .error(503, unavailable),
    );
    let top = doc.json::<Top>(200, "The most requested entries and the paths most often not found.");
    doc.add(
        "/api/usage/top",
        HttpMethod::Get,
        op("usage_top", "management", "The most requested entries")
            .auth(Auth::Key)
            .params([
                day("from", "The first day, `YYYY-MM-DD`."),
                day("to", "The last day, `YYYY-MM-DD`."),
                query(
                    "limit",
                    integer(1, Some(100)),
                    "Rows in each list: 1 to 100, 10 by default.",
                ),
            ])
            .answer(top)
            .error(400, "`invalid_param`: names the parameter")
            .error(503, unavailable),
    );
    // The operator's reads that take no parameters.
    let plugins = doc.json::<PluginsWithStats>(200, "Each configured plugin with its calls.");
    let webhooks = doc.json::<Webhooks>(200, "Each configured endpoint with its outbox state.");
    let reads = [
        ("/api/plugins", "plugin_stats", "Plugins and their calls", plugins),
        ("/api/webhooks", "webhooks", "Webhook endpoints", webhooks),
    ];
    for (path, id, summary, answer) in reads {
        let read = op(id, "management", summary)
            .auth(Auth::Key)
            .answer(answer)
            .error(400, NO_PARAMS)
            .error(503, unavailable);
        doc.add(path, HttpMethod::Get, read);
    }
    let replayed = doc.json::<Replayed>(200, "Messages queued again.");
    doc.add(
        "/api/webhooks/{name}/replay",
        HttpMethod::Post,
        op("replay_webhooks", "management", "Replay an endpoint's messages")
            .describe(
                "Queues every settled message to the endpoint written since `since` again, under its \
                 `webhook-id`, and enables an endpoint a `410` disabled.",
            )
            .auth(Auth::Key)
            .params([
                in_path(
                    "name",
                    string().min_length(Some(1)),
                    "The endpoint's `name` in `[[webhooks]]`.",
                ),
                required(
                    ParameterBuilder::new()
                        .name("since")
                        .parameter_in(ParameterIn::Query)
                        .schema(Some(
                            AnyOfBuilder::new()
                                .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))))
                                .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))),
                        ))
                        .description(Some("An RFC 3339 time, or a date (its midnight, UTC)."))
                        .build(),
                ),
            ])
            .answer(replayed)
            .error(400, "`invalid_param`: `since` missing or not a time")
            .error(404, "`not_found`: no endpoint by that name")
            .error(503, unavailable),
    );
    let explained = doc.json::<Explanation>(200, "What the URL means, or the error Kiln would answer for it.");
    doc.add(
        "/api/explain",
        HttpMethod::Get,
        op("explain", "management", "Explain a Kiln URL")
            .describe("Needs `admin`. Makes nothing; a URL Kiln would refuse is explained with its error.")
            .auth(Auth::Key)
            .param(required(query(
                "url",
                pattern(&explainable()),
                "An absolute or path URL under `/assets/`.",
            )))
            .answer(explained)
            .error(400, "`invalid_param`: `url` missing, given twice, or not an asset URL"),
    );
}

/// The transformation parameters (and signature) a fetch takes.
fn transformation_params() -> Vec<Parameter> {
    let gravity = [
        "center",
        "centre",
        "north",
        "south",
        "east",
        "west",
        "northeast",
        "northwest",
        "southeast",
        "southwest",
        "c",
        "n",
        "s",
        "e",
        "w",
        "ne",
        "nw",
        "se",
        "sw",
        "entropy",
        "attention",
    ];
    // As the parser reads them: digits (and dots) only, so the patterns are exact.
    let boolean = || choice(&["true", "false", "1", "0"]);
    vec![
        query("w", integer(1, None), "Width in pixels, up to `limits.max-dimension`."),
        query("h", integer(1, None), "Height in pixels, up to `limits.max-dimension`."),
        query(
            "fit",
            choice(&[
                "inside", "cover", "contain", "fill", "outside", "fit", "crop", "stretch",
            ]),
            "How `w`×`h` is filled, as CSS `object-fit`.",
        ),
        query("g", choice(&gravity), "Where `cover` crops."),
        query(
            "fp",
            pattern(r"^[0-9.]{1,16},[0-9.]{1,16}$"),
            "Focal point `x,y`, each 0 to 1.",
        ),
        query(
            "crop",
            pattern(r"^[0-9]{1,10}(,[0-9]{1,10}){3}$"),
            "`x,y,w,h` in source pixels, before resizing; `w` and `h` at least 1.",
        ),
        query(
            "r",
            pattern(r"^[+-]?0*(0|90|180|270|360)$"),
            "Rotation in degrees after EXIF orientation: 0, 90, 180 or 270 (-90 and 360 are read as 270 and 0).",
        ),
        query("f", choice(&["h", "v", "hv", "vh"]), "Flip."),
        query("blur", number(0.3, 150.0), "Gaussian blur sigma."),
        query("sharpen", number(0.5, 10.0), "Sharpen sigma."),
        query(
            "pad",
            pattern(r"^[0-9]{1,10}(,[0-9]{1,10}){3}$|^[0-9]{1,10}$"),
            "`n` or `t,r,b,l` pixels, filled with `bg`.",
        ),
        query(
            "bg",
            pattern("^#?([0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})$"),
            "`RRGGBB` or `RRGGBBAA`, optionally after `#`.",
        ),
        query(
            "filter",
            choice(&["grayscale", "greyscale", "sepia", "bw"]),
            "A colour filter.",
        ),
        query("q", integer(1, Some(100)), "Quality."),
        query(
            "format",
            choice(&["jpeg", "jpg", "png", "webp", "avif", "jxl", "heic", "gif", "auto"]),
            "Output format; `auto` picks from `Accept`.",
        ),
        query("lossless", boolean(), "Lossless WebP, AVIF or JPEG XL."),
        query("progressive", boolean(), "Progressive JPEG, interlaced PNG or GIF."),
        query(
            "strip",
            pattern("^(all|none|exif|xmp|iptc|gps)(,(all|none|exif|xmp|iptc|gps))*$"),
            "Metadata to remove; `all` by default for variants.",
        ),
        query(
            "cs",
            choice(&["srgb", "p3", "gray", "grey", "origin"]),
            "Output colour space.",
        ),
        query("dpr", number(1.0, 4.0), "Device pixel ratio: multiplies `w` and `h`."),
        query("anim", boolean(), "Keep every frame for GIF and WebP output."),
        query(
            "profile",
            pattern("^[A-Za-z0-9_-]{1,64}$"),
            "A named profile (`GET /profiles`).",
        ),
        query(
            "fx",
            pattern("^[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64}){0,7}$"),
            "Transform plugins, in order (`GET /plugins`); their parameters go in `{plugin}.{key}`.",
        ),
        query(
            "s",
            string(),
            "The URL's signature (base64url), checked where the path's `signing` asks for one.",
        ),
        query("exp", integer(0, None), "When the signature expires, Unix seconds."),
    ]
}

fn assets(doc: &mut Doc) {
    let entry = doc.schema::<EntryView>();
    let link = doc.schema::<Link>();
    let metadata = doc.schema::<EntryMetadata>();
    let ingest = doc.schema::<UrlIngest>();
    let batch = doc.schema::<VariantBatch>();
    let made = doc.schema::<MadeVariants>();
    let unavailable = "`unavailable`: the catalog or the store does not answer";
    let fetch_errors = |op: Op| {
        op.auth(Auth::Optional)
            .error(
                400,
                "`invalid_path`, `invalid_selector`, `invalid_param` (names it), `invalid_host`",
            )
            .error(
                403,
                "`invalid_signature`, `expired`, `forbidden`, `on_demand_restricted`, `on_demand_disabled`",
            )
            .error(404, "`not_found`: no entry matches")
            .error(
                422,
                "`image_too_large`, `too_many_frames`, `too_many_variants`, `transform_failed`, \
                 `transform_timeout`, `plugin_failed`",
            )
            .error(503, "`overloaded`: every worker is busy; `unavailable`")
    };
    // The answers of a read, by return format.
    let read = |op: Op, formats: &str| {
        let content = ResponseBuilder::new()
            .description(format!(
                "By return format ({formats}): the image (`content`, `download`), or JSON (`link`, `metadata`)."
            ))
            .content(
                "image/*",
                ContentBuilder::new()
                    .schema(Some(
                        string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
                    ))
                    .build(),
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(OneOfBuilder::new().item(link.clone()).item(entry.clone())))
                    .build(),
            )
            .build();
        let answer = |status: u16, description: &str| (status, bare(description));
        let redirect = with_header(bare("`redirect`: to the variant."), "Location", "Where it is.");
        fetch_errors(op)
            .transformations()
            .answer((200, content))
            .answer(answer(206, "A `Range` of the content."))
            .answer((307, redirect))
            .answer(answer(304, "Not modified (`If-None-Match`, `If-Modified-Since`)."))
            .error(416, "`range_not_satisfiable`")
    };
    let selectors = "The selectors after `-`: an ordering (`new`, `modified`, `entry/{n}`) and a return \
                     format (`content`, `link`, `redirect`, `download`, `metadata` or `info`), at most one \
                     of each, in any order. Label filters `label:{key}={value}` (up to 16) select the newest \
                     entry carrying them; plugin parameters go in `{plugin}.{key}`.";
    let upload_errors = |op: Op| {
        op.error(
            400,
            "`empty_body`, `invalid_image`, `invalid_body`, `invalid_metadata`, `invalid_param`, `invalid_path`",
        )
        .error(403, "`url_not_allowed`: the URL to ingest is not allowed")
        .error(408, "`request_timeout`: the body came too slowly")
        .error(413, "`payload_too_large`: over the path's upload limit")
        .error(
            415,
            "`unsupported_media_type`: not an image, or a type the path does not allow",
        )
        .error(
            422,
            "`rejected` (a validator's reason), `preprocess_failed`, `image_too_large`, `plugin_failed`, \
             `url_fetch_failed`, `url_fetch_timeout`",
        )
        .error(503, unavailable)
    };
    let binary = || {
        ContentBuilder::new()
            .schema(Some(
                string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
            ))
            .build()
    };
    let multipart = ObjectBuilder::new()
        .property(
            "file",
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
        )
        .required("file")
        .property(
            "metadata",
            string().description(Some("JSON: `{\"alt\", \"labels\", \"tags\"}`.")),
        );
    let upload_body = RequestBodyBuilder::new()
        .description(Some(
            "The image's bytes with their type; or `multipart/form-data` with a `file` part and an optional \
             `metadata` part; or JSON naming a URL to fetch it from.",
        ))
        .required(Some(Required::True));
    // Raw bodies are sniffed: any image type the path allows is taken, whatever the header says.
    let upload_body = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"]
        .into_iter()
        .fold(upload_body, |body, media_type| body.content(media_type, binary()))
        .content(
            "multipart/form-data",
            ContentBuilder::new().schema(Some(multipart)).build(),
        )
        .content("application/json", ContentBuilder::new().schema(Some(ingest)).build())
        .build();
    let created = with_header(
        json_answer("The new entry.", entry.clone()),
        "Location",
        "`/assets/{path}/-/entry/{n}`",
    );
    // Links from an upload to the operations on the entry it made, all
    // under its own URL, `/assets/{path}/-/entry/{n}`: schemathesis' stateful
    // phase follows them, and tells a 404 after a DELETE of a URL above the
    // one asked for from a resource that went missing. (Deletes of the newest
    // entry or of a tree, and the `/api` views of an entry, live at other
    // URLs; linked, an earlier delete there would read as a lost resource.)
    let entry_links = [
        ("GetEntry", "get_entry", None),
        ("GetEntryAs", "get_entry_as", Some("metadata")),
        ("UpdateEntry", "update_entry", None),
        ("MakeVariants", "make_variants", None),
        ("DeleteEntry", "delete_entry", None),
    ];
    let created = entry_links.iter().fold(created, |mut answer, (name, target, format)| {
        let mut link = utoipa::openapi::link::LinkBuilder::new()
            .operation_id(*target)
            .parameter("path", "$request.path.path")
            .parameter("entry", "$response.body#/entry");
        if let Some(format) = format {
            link = link.parameter("format", *format);
        }
        answer.links.insert((*name).into(), link.build().into());
        answer
    });
    let eager = query(
        "eager",
        pattern("^[A-Za-z0-9_,-]*$"),
        "Profiles (comma-separated; empty names are ignored) to make for this entry after upload, \
         besides the path's `eager-variants`.",
    );

    let newest = "/assets/{path}";
    doc.add(
        newest,
        HttpMethod::Get,
        read(
            op("get_asset", "assets", "The newest entry"),
            "`content` unless the path's config says",
        )
        .param(asset_path())
        .describe(selectors),
    );
    doc.add(
        newest,
        HttpMethod::Post,
        upload_errors(op("upload", "assets", "Store a new entry"))
            .describe(
                "Needs `write` over the path, or a signed upload URL (`kiln sign-upload`: its `exp` and `s` \
                 instead of a key).",
            )
            .auth(Auth::Key)
            .params([asset_path(), eager])
            .body(upload_body)
            .answer((201, created)),
    );
    let deleted = (204, bare("Deleted, with its variants and stored objects."));
    let delete_errors = |op: Op| {
        op.auth(Auth::Key)
            .answer(deleted.clone())
            .error(
                400,
                "`invalid_path`, `invalid_selector`; `invalid_param`: this URL takes no query",
            )
            .error(404, "`not_found`: nothing to delete")
            .error(503, unavailable)
    };
    doc.add(
        newest,
        HttpMethod::Delete,
        delete_errors(op("delete_newest", "assets", "Delete the newest entry")).param(asset_path()),
    );
    doc.add(
        "/assets/{path}/-/recursive",
        HttpMethod::Delete,
        delete_errors(op("delete_tree", "assets", "Delete every entry at and below the path")).param(asset_path()),
    );
    doc.add(
        "/assets/{path}/-/{selector}",
        HttpMethod::Get,
        read(
            op("get_asset_as", "assets", "The newest entry, by selector"),
            "the selector's",
        )
        .describe(selectors)
        .params([
            asset_path(),
            in_path(
                "selector",
                choice(&[
                    "new", "modified", "content", "link", "redirect", "download", "metadata", "info",
                ]),
                "An ordering or a return format.",
            ),
        ]),
    );
    let entry_path = "/assets/{path}/-/entry/{entry}";
    doc.add(
        entry_path,
        HttpMethod::Get,
        read(
            op("get_entry", "assets", "One entry"),
            "`content` unless the path's config says",
        )
        .describe(selectors)
        .params([asset_path(), entry_number()]),
    );
    doc.add(
        "/assets/{path}/-/entry/{entry}/{format}",
        HttpMethod::Get,
        read(
            op("get_entry_as", "assets", "One entry, in a return format"),
            "`format`",
        )
        .describe(selectors)
        .params([
            asset_path(),
            entry_number(),
            in_path(
                "format",
                choice(&["content", "link", "redirect", "download", "metadata", "info"]),
                "The return format.",
            ),
        ]),
    );
    let updated = (200, json_answer("The entry, with its new metadata.", entry.clone()));
    doc.add(
        entry_path,
        HttpMethod::Put,
        op("update_entry", "assets", "Replace an entry's alt, labels and tags")
            .describe("Needs `write`. Fields left out are cleared; `modified_at` moves.")
            .auth(Auth::Key)
            .params([asset_path(), entry_number()])
            .body(json_body(metadata, "The entry's new metadata."))
            .answer(updated)
            .error(
                400,
                "`invalid_body`, `invalid_metadata`, `invalid_path`, `invalid_selector`; `invalid_param`: no query",
            )
            .error(404, "`not_found`: no such entry")
            .error(408, "`request_timeout`: the body came too slowly")
            .error(413, "`payload_too_large`: over `limits.max-json-bytes`")
            .error(415, "`unsupported_media_type`: not `application/json`")
            .error(503, unavailable),
    );
    doc.add(
        entry_path,
        HttpMethod::Delete,
        delete_errors(op("delete_entry", "assets", "Delete an entry")).params([asset_path(), entry_number()]),
    );
    let made_now = (
        200,
        json_answer("A link per variant, in order, each made.", made.clone()),
    );
    let queued = (
        202,
        json_answer("A link per variant, queued as jobs (`?async=true`).", made),
    );
    doc.add(
        "/assets/{path}/-/entry/{entry}/variants",
        HttpMethod::Post,
        op("make_variants", "assets", "Make variants now")
            .describe("Needs `write`. Every variant is planned first: one refused, named `variants[i]`, makes none.")
            .auth(Auth::Key)
            .params([
                asset_path(),
                entry_number(),
                query(
                    "async",
                    choice(&["true", "false"]),
                    "Queue them as jobs instead: `202`.",
                ),
            ])
            .body(json_body(
                batch,
                &format!("The variants, 1 to {MOST_VARIANTS}, each a query string of transformation parameters."),
            ))
            .answer(made_now)
            .answer(queued)
            .error(
                400,
                "`invalid_body`, `invalid_param` (as `variants[i]: …`), `invalid_path`, `invalid_selector`",
            )
            .error(403, "`on_demand_restricted`, `on_demand_disabled`")
            .error(404, "`not_found`: no such entry")
            .error(408, "`request_timeout`: the body came too slowly")
            .error(413, "`payload_too_large`: over `limits.max-json-bytes`")
            .error(415, "`unsupported_media_type`: not `application/json`")
            .error(
                422,
                "`image_too_large`, `too_many_variants`, `transform_failed`, `transform_timeout`, `plugin_failed`",
            )
            .error(503, "`overloaded`; `unavailable`"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routes that answer only `400 invalid_path` (an asset URL without a path).
    const NOT_OPERATIONS: [&str; 2] = ["/assets", "/assets/"];

    fn documented() -> Vec<String> {
        document().paths.paths.keys().cloned().collect()
    }

    /// A documented path a route serves: equal, or under a `{*rest}` route's prefix.
    fn serves(route: &str, path: &str) -> bool {
        match route.split_once("{*") {
            Some((prefix, _)) => path.starts_with(prefix) && path.len() > prefix.len(),
            None => route == path,
        }
    }

    #[test]
    fn router_is_documented() {
        let paths = documented();
        for route in super::super::ROUTES {
            if NOT_OPERATIONS.contains(&route) {
                continue;
            }
            assert!(
                paths.iter().any(|path| serves(route, path)),
                "{route} is not documented"
            );
        }
        for path in &paths {
            assert!(
                super::super::ROUTES.iter().any(|route| serves(route, path)),
                "{path} is documented but no route serves it"
            );
        }
    }

    #[test]
    fn every_operation_has_a_unique_id_and_its_errors() {
        let document = document();
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in &document.paths.paths {
            let operations = [&item.get, &item.head, &item.post, &item.put, &item.delete];
            for operation in operations.into_iter().flatten() {
                let id = operation.operation_id.clone().unwrap_or_default();
                assert!(ids.insert(id.clone()), "{path}: operation id {id} twice");
                for status in ["414", "431", "500"] {
                    assert!(
                        operation.responses.responses.contains_key(status),
                        "{id} lacks {status}"
                    );
                }
            }
        }
        assert!(ids.len() > 40, "{ids:?}");
    }

    /// Bounds the derives spell as literals are the handlers' own.
    #[test]
    fn bounds_are_the_handlers_own() {
        let document: serde_json::Value = serde_json::from_str(&document_json().unwrap()).unwrap();
        let schemas = &document["components"]["schemas"];
        assert_eq!(
            schemas["SignRequest"]["properties"]["ttl"]["maximum"],
            super::super::MOST_TTL
        );
        let variants = &schemas["VariantBatch"]["properties"]["variants"];
        assert_eq!(variants["maxItems"], MOST_VARIANTS);
        assert_eq!(variants["minItems"], 1);
    }

    /// `docs/openapi.json` is what the server serves; `make openapi` writes it.
    #[test]
    fn docs_hold_the_document() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        let written = std::fs::read_to_string(file).unwrap_or_default();
        assert!(
            written == document_json().unwrap(),
            "docs/openapi.json differs from the document the code makes: run `make openapi`"
        );
    }
}
