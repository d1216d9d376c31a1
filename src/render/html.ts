/**
 * What the status page and the run report share as HTML documents: escaping, the head, and the
 * Content-Security-Policy that lets the browser apply the page's one inline stylesheet and load nothing
 * else. Both documents are plain HTML, inline SVG and one <style> block: no script, no external asset, no
 * style attribute, so the policy can forbid everything but that stylesheet, by its hash; SVG geometry and
 * colours go in presentation attributes and classes, which CSP does not govern. Pure.
 */
import { createHash } from 'node:crypto';

/** esc escapes text for HTML content and double- or single-quoted attribute values. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}
const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * stylesheetCsp is the Content-Security-Policy of a document whose only asset is the inline stylesheet
 * `css`, allowed by its SHA-256. The icon link points at an empty data: URL so the browser does not fetch
 * /favicon.ico. `frame-ancestors` is honoured only in a response header, so a <meta> policy leaves it out.
 */
export function stylesheetCsp(css: string, delivery: 'header' | 'meta'): string {
  return [
    "default-src 'none'",
    `style-src 'sha256-${createHash('sha256').update(css).digest('base64')}'`,
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    ...(delivery === 'header' ? ["frame-ancestors 'none'"] : []),
  ].join('; ');
}

/** DocumentHead is what documentStart writes before the body. */
interface DocumentHead {
  readonly title: string;
  /** css is the one stylesheet, allowed by the policy by its hash. */
  readonly css: string;
  /** csp, when set, goes in a <meta> tag: for a file, which has no response headers. */
  readonly csp?: string;
  /** refreshSeconds, when set, makes the browser reload the page that often (a meta refresh, no script). */
  readonly refreshSeconds?: number;
}

/** documentStart is a document from its doctype to the opening <body> tag and a newline. */
export function documentStart({ title, css, csp, refreshSeconds }: DocumentHead): string {
  return (
    '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    (csp === undefined ? '' : `<meta http-equiv="Content-Security-Policy" content="${esc(csp)}">\n`) +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    (refreshSeconds === undefined
      ? ''
      : `<meta http-equiv="refresh" content="${Math.max(1, Math.round(refreshSeconds))}">\n`) +
    `<title>${esc(title)}</title>\n<link rel="icon" href="data:,">\n<style>${css}</style>\n</head>\n<body>\n`
  );
}
