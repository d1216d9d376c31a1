/**
 * Reads deploy/grafana/probex.json for the tests: every PromQL expression of its panels and of its
 * template variables, with Grafana's variables replaced as a dashboard with "All" selected sends them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_PATH = fileURLToPath(new URL('../../deploy/grafana/probex.json', import.meta.url));

/**
 * Dashboard is the part of Grafana's dashboard JSON the tests read. It is parsed, not validated: a field the
 * file lacks is undefined at run time and the assertion reading it fails.
 */
export interface Dashboard {
  readonly uid: string;
  readonly schemaVersion: number;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly Variable[] };
}

/** Panel is one dashboard panel; a collapsed row holds its panels in `panels`. */
export interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: unknown;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly repeat?: string;
  readonly targets: readonly Target[];
  readonly panels?: readonly Panel[];
}

/** Target is one query of a panel. */
export interface Target {
  readonly refId: string;
  readonly expr: string;
  readonly format?: string;
  readonly datasource?: unknown;
}

/** Variable is one template variable. */
export interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query?: unknown;
  readonly definition?: string;
  readonly includeAll?: boolean;
  readonly multi?: boolean;
  readonly allValue?: string;
}

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
export function panels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** panelQueries returns every query of every panel that is not a row. */
export function panelQueries(dashboard: Dashboard): PanelQuery[] {
  return panels(dashboard)
    .filter((p) => p.type !== 'row')
    .flatMap((p) =>
      p.targets.map((t) => ({
        panel: p.title,
        type: p.type,
        refId: t.refId,
        expr: t.expr,
        promql: substitute(t.expr),
      })),
    );
}

/** variableSelectors returns, per query variable, the series selector and label of its label_values() query. */
export function variableSelectors(dashboard: Dashboard): Array<{ name: string; selector: string; label: string }> {
  return dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => {
      const m = /^label_values\((.+),\s*([a-zA-Z_]\w*)\)$/.exec(v.definition ?? '');
      if (m === null) throw new Error(`variable ${v.name}: ${v.definition} is not label_values(selector, label)`);
      return { name: v.name, selector: substitute(m[1]!), label: m[2]! };
    });
}
