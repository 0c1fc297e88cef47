/**
 * Route files as Traefik's file provider reads them. It runs every file of its directory through Go's text/template
 * with sprig's functions, then decodes the rendered text with gopkg.in/yaml.v3 (pkg/provider/file/file.go:
 * collectFileConfigs -> loadFileConfig(path, true) -> CreateConfiguration; traefik/paerser file.DecodeContent).
 */
import { ToolError } from '@ravenhelm/kit';
import { Document, parseDocument, visit } from 'yaml';

/**
 * Whether plain text reads back as that string in Traefik: yaml.v3 reads YAML 1.1 forms as well as 1.2's:
 * `2024-01-02` is a timestamp (a value paerser refuses, failing the whole directory; as a key, a router named
 * "<time.Time Value>"), `0b1` and `1_000` are ints ("1", "1000"), `0o17` is 15. This YAML library writes a string
 * plain when YAML 1.2 would read it back as one, so a string either schema reads otherwise is quoted.
 */
function readsAsString(text: string): boolean {
  if (V3_UNSAFE.test(text)) return false;
  // Longer strings are quoted without asking the parser: quoting reads back the same, and a hostile value
  // (2,048 characters of "]", one error each) cost the parser 160 ms per string on the event loop.
  if (text.length > PLAIN_MAX) return false;
  return readsBackAs(text, '1.2') && readsBackAs(text, '1.1');
}

/** Longest string written plain (a Traefik rule of a few hosts; anything longer is double-quoted). */
const PLAIN_MAX = 256;

/**
 * parseDocument, not parse: parse() reports the document's warnings through process.emitWarning, which
 * prints them to stderr with the text quoted (`!x <header value>` is an "Unresolved tag" warning), past
 * every redaction of the log.
 */
function readsBackAs(text: string, version: '1.1' | '1.2'): boolean {
  try {
    const doc = parseDocument(text, { version });
    return doc.errors.length === 0 && doc.toJS() === text;
  } catch {
    return false;
  }
}

/**
 * Characters yaml.v3 does not take as written (yamlprivateh.go, readerc.go): NEL, LS and PS are line breaks to it
 * (is_break), so a plain or quoted value holding one is cut or folded there, and what follows a break in a plain
 * value is read as more YAML (a comment, then routers of the caller's choosing); DEL, the other C1 controls and
 * U+FFFE/U+FFFF are refused by its reader ("control characters are not allowed"), which fails the whole directory.
 * This YAML library writes them raw, even in double quotes: they are written as escapes there instead.
 */
const V3_UNSAFE = /[\x7f-\x9f\u2028\u2029\ufffe\uffff]/;
const V3_UNSAFE_ALL = new RegExp(V3_UNSAFE.source, 'g');
const V3_ESCAPE: Record<string, string> = { '\x85': '\\N', '\u2028': '\\L', '\u2029': '\\P' };
const escapeV3 = (c: string) =>
  V3_ESCAPE[c] ?? (c < '\u0100' ? `\\x${c.charCodeAt(0).toString(16)}` : `\\u${c.charCodeAt(0).toString(16)}`);
/** A YAML double-quoted scalar of `text` that yaml.v3 reads back as `text` (JSON's escapes, and those above). */
export function v3DoubleQuoted(text: string): string {
  return JSON.stringify(text).replace(V3_UNSAFE_ALL, escapeV3);
}

/**
 * YAML for a route file: every string Traefik would not read back as written is double-quoted, with the characters
 * yaml.v3 reads otherwise escaped (the kit refuses lone surrogates in every argument: none reaches here).
 */
export function traefikYaml(value: unknown): string {
  const doc = new Document(value);
  visit(doc, {
    Scalar(_k, node) {
      if (typeof node.value !== 'string') return;
      if (!readsAsString(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  // Every string holding such a character is double-quoted above; keys and the marker line never hold one.
  return doc.toString({ lineWidth: 0 }).replace(V3_UNSAFE_ALL, escapeV3);
}

/**
 * Refuses text Traefik would not load as written: a `{{` in a value is a template action, which could print a
 * Traefik environment variable (`env`) into the rule, or text that reshapes the YAML (another rule branch,
 * middlewares, routers) after every check here read the value as written. `fields` name the caller's values;
 * `file` is the text to be written, checked as a whole as well.
 */
export function refuseTemplateActions(fields: readonly (readonly [string, string])[], file: string): void {
  const found = fields.find(([, v]) => v.includes('{{'))?.[0] ?? (file.includes('{{') ? 'the route' : undefined);
  if (found === undefined) return;
  throw new ToolError(
    'ERR_INVALID_INPUT',
    `${found} contains "{{": Traefik's file provider runs each file as a Go template before reading it, so it would not load what was checked; remove it (in a regexp, write a brace as \\{)`,
  );
}
