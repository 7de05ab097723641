// The HTTP API reference, drawn from the server's own `GET /openapi.json`
// with nothing fetched from anywhere else: every operation by tag, its
// parameters, body and answers, then the schemas they name. The raw
// document is linked for tools that read OpenAPI themselves.
import { KilnError } from "./api";
import { h } from "./dom";

interface Schema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  items?: Schema;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  allOf?: Schema[];
  oneOf?: Schema[];
  additionalProperties?: Schema | boolean;
}

interface Parameter {
  $ref?: string;
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: Schema;
}

interface Operation {
  operationId: string;
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: Parameter[];
  requestBody?: { description?: string; content: Record<string, { schema?: Schema }> };
  responses: Record<string, { description: string; content?: Record<string, { schema?: Schema }> }>;
  security?: Record<string, string[]>[];
}

interface Document {
  info: { title: string; version: string; description?: string };
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; parameters?: Record<string, Parameter> };
}

const METHODS = ["get", "head", "post", "put", "delete"];

/** The document's descriptions mark code with backticks; drawn as `<code>`. */
function prose(text: string | undefined): Node[] {
  return (text ?? "").split("`").map((part, i) => (i % 2 ? h("code", {}, part) : document.createTextNode(part)));
}

function access(op: Operation): string {
  const security = op.security ?? [];
  if (security.some((requirement) => Object.keys(requirement).length === 0)) return " — public where the path allows; a key may stand in for a signature";
  return security.length ? " — needs a key" : "";
}

function refName(ref: string): string {
  return ref.slice(ref.lastIndexOf("/") + 1);
}

/** A schema in one line: a link to a named schema, or its type and bounds. */
function typeOf(schema: Schema | undefined): Node | string {
  if (!schema) return "";
  if (schema.$ref) {
    const name = refName(schema.$ref);
    return h("a", { href: `#/reference?schema=${name}` }, name);
  }
  const parts: (Node | string)[] = [];
  if (schema.oneOf) return h("span", {}, ...schema.oneOf.flatMap((s, i) => (i ? [" or ", typeOf(s)] : [typeOf(s)])));
  if (schema.allOf) return h("span", {}, ...schema.allOf.flatMap((s, i) => (i ? [" and ", typeOf(s)] : [typeOf(s)])));
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : (schema.type ?? "any");
  if (type === "array" || (Array.isArray(schema.type) && schema.type.includes("array"))) {
    parts.push("array of ", typeOf(schema.items));
  } else {
    parts.push(type);
  }
  if (schema.format) parts.push(` (${schema.format})`);
  if (schema.enum) parts.push(`: ${schema.enum.join(", ")}`);
  if (schema.minimum !== undefined || schema.maximum !== undefined) {
    parts.push(` ${schema.minimum ?? ""}…${schema.maximum ?? ""}`);
  }
  if (schema.pattern) parts.push(" ", h("code", {}, schema.pattern));
  return h("span", {}, ...parts);
}

function parameters(doc: Document, list: Parameter[]): Node {
  const rows = list.map((p) => (p.$ref ? doc.components.parameters?.[refName(p.$ref)] : p)).filter((p): p is Parameter => !!p);
  return h(
    "table",
    { class: "reference-params" },
    h("thead", {}, h("tr", {}, h("th", {}, "Parameter"), h("th", {}, "In"), h("th", {}, "Type"), h("th", {}, "Meaning"))),
    h(
      "tbody",
      {},
      rows.map((p) =>
        h(
          "tr",
          {},
          h("td", {}, h("code", {}, p.name), p.required ? " *" : ""),
          h("td", {}, p.in),
          h("td", {}, typeOf(p.schema)),
          h("td", {}, ...prose(p.description)),
        ),
      ),
    ),
  );
}

function operation(doc: Document, method: string, path: string, op: Operation): Node {
  const parts: Node[] = [
    h("h3", { id: `op-${op.operationId}` }, h("span", { class: `method method-${method}` }, method.toUpperCase()), " ", h("code", {}, path)),
    h("p", {}, op.summary ?? "", access(op)),
  ];
  if (op.description) parts.push(h("p", { class: "muted" }, ...prose(op.description)));
  if (op.parameters?.length) parts.push(parameters(doc, op.parameters));
  if (op.requestBody) {
    const bodies = Object.entries(op.requestBody.content).map(([media, content]) =>
      h("li", {}, h("code", {}, media), " ", typeOf(content.schema)),
    );
    parts.push(h("p", {}, "Body: ", ...prose(op.requestBody.description)), h("ul", {}, bodies));
  }
  const answers = Object.entries(op.responses).map(([status, answer]) => {
    const content = Object.entries(answer.content ?? {}).map(([media, c]) => h("span", {}, " ", h("code", {}, media), " ", typeOf(c.schema)));
    return h("li", {}, h("strong", {}, status), " ", ...prose(answer.description), ...content);
  });
  parts.push(h("ul", { class: "reference-answers" }, answers));
  return h("article", { class: "card reference-op" }, ...parts);
}

function schemaSection(name: string, schema: Schema): Node {
  const own = [schema, ...(schema.allOf ?? [])];
  const rows = own.flatMap((part) =>
    Object.entries(part.properties ?? {}).map(([field, s]) =>
      h("tr", {}, h("td", {}, h("code", {}, field), part.required?.includes(field) ? " *" : ""), h("td", {}, typeOf(s)), h("td", {}, ...prose(s.description))),
    ),
  );
  const bases = (schema.allOf ?? []).filter((part) => part.$ref).map((part) => typeOf(part));
  return h(
    "article",
    { class: "card", id: `schema-${name}` },
    h("h3", {}, name),
    h("p", {}, ...prose(schema.description)),
    bases.length ? h("p", {}, "With every field of ", ...bases) : "",
    rows.length ? h("table", {}, h("tbody", {}, rows)) : h("p", {}, typeOf(schema)),
  );
}

export async function referenceView(_session: unknown, _rest: string, query: URLSearchParams): Promise<Node> {
  const response = await fetch("/openapi.json", { cache: "no-cache" });
  if (!response.ok) throw new KilnError(response.status, "openapi", "the OpenAPI document could not be read");
  const doc = (await response.json()) as Document;
  const wanted = query.get("schema");
  if (wanted && doc.components.schemas[wanted]) {
    return h(
      "section",
      {},
      h("p", {}, h("a", { href: "#/reference" }, "← API reference")),
      schemaSection(wanted, doc.components.schemas[wanted]!),
    );
  }
  const byTag = new Map<string, Node[]>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      // A HEAD answers as its GET does, without bodies: listed once, with the GET.
      if (!op || method === "head") continue;
      const tag = op.tags?.[0] ?? "other";
      byTag.set(tag, [...(byTag.get(tag) ?? []), operation(doc, method, path, op)]);
    }
  }
  const tags = doc.tags ?? [...byTag.keys()].map((name) => ({ name, description: "" }));
  return h(
    "section",
    { class: "reference" },
    h("h1", {}, `${doc.info.title} HTTP API ${doc.info.version}`),
    h("p", {}, ...prose(doc.info.description)),
    h(
      "p",
      {},
      "Drawn from this server's ",
      h("a", { href: "/openapi.json", download: "kiln-openapi.json", id: "openapi-raw" }, "OpenAPI 3.1 document"),
      ". Every GET also answers HEAD. Parameters marked * are required.",
    ),
    tags.flatMap((tag) => [h("h2", {}, tag.name), h("p", { class: "muted" }, ...prose(tag.description)), ...(byTag.get(tag.name) ?? [])]),
    h("h2", {}, "Schemas"),
    h(
      "ul",
      { class: "reference-schemas" },
      Object.keys(doc.components.schemas).map((name) => h("li", {}, h("a", { href: `#/reference?schema=${name}` }, name))),
    ),
  );
}
