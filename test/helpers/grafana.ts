/**
 * Reads deploy/grafana/probex.json for the tests: every PromQL expression of its panels and of its
 * template variables, with Grafana's variables replaced as a dashboard with "All" selected sends them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_PATH = fileURLToPath(new URL('../../deploy/grafana/probex.json', import.meta.url));

export type Dashboard = Record<string, any>; // parsed JSON, checked field by field by the tests

/** PanelQuery is one query of one panel. */
export interface PanelQuery {
  readonly panel: string;
  readonly type: string;
  readonly refId: string;
  /** expr is the query as written in the dashboard. */
  readonly expr: string;
  /** promql is expr with the template variables substituted. */
  readonly promql: string;
}

/**
 * SUBSTITUTIONS are Grafana's variables as it expands them: a multi-value variable with All selected
 * becomes its allValue (`.*`), and $__rate_interval is at least four scrape intervals (1 s scrapes here).
 */
const SUBSTITUTIONS: ReadonlyArray<[RegExp, string]> = [
  [/\$\{?instance\}?/g, '.*'],
  [/\$\{?target\}?/g, '.*'],
  [/\$__rate_interval/g, '30s'],
  [/\$__interval/g, '15s'],
  [/\$__range/g, '5m'],
];

/** substitute replaces the dashboard's template variables in expr. */
export function substitute(expr: string): string {
  return SUBSTITUTIONS.reduce((s, [re, value]) => s.replace(re, value), expr);
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;
}

/** panels returns every panel, including those nested in collapsed rows. */
export function panels(dashboard: Dashboard): Dashboard[] {
  return (dashboard.panels as Dashboard[]).flatMap((p) => [p, ...((p.panels as Dashboard[] | undefined) ?? [])]);
}

/** panelQueries returns every query of every panel that is not a row. */
export function panelQueries(dashboard: Dashboard): PanelQuery[] {
  return panels(dashboard).filter((p) => p.type !== 'row').flatMap((p) =>
    (p.targets as Dashboard[]).map((t) => ({ panel: p.title as string, type: p.type as string, refId: t.refId as string, expr: t.expr as string, promql: substitute(t.expr as string) })));
}

/** variableSelectors returns, per query variable, the series selector and label of its label_values() query. */
export function variableSelectors(dashboard: Dashboard): Array<{ name: string; selector: string; label: string }> {
  return (dashboard.templating.list as Dashboard[]).filter((v) => v.type === 'query').map((v) => {
    const m = /^label_values\((.+),\s*([a-zA-Z_]\w*)\)$/.exec(v.definition as string);
    if (m === null) throw new Error(`variable ${v.name}: ${v.definition} is not label_values(selector, label)`);
    return { name: v.name as string, selector: substitute(m[1]!), label: m[2]! };
  });
}
