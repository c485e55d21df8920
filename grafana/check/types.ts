// Helper types for check-dashboards.mjs.
//
// @grafana/schema declares its string enums as TypeScript `enum`s (ThresholdsMode.Absolute...), to
// which the plain strings of a dashboard's JSON ("absolute") are not assignable. `Loose<T>` turns
// every string enum into the union of its values with a template literal type (`${E}`), recursively,
// and keeps everything else, including required keys and excess-property checks, as the schema says.

export type Loose<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends readonly (infer U)[]
      ? Loose<U>[]
      : T extends object
        ? { [K in keyof T]: Loose<T[K]> }
        : T;

// A Prometheus panel query as Grafana saves it (the Prometheus data source's PromQuery, which
// @grafana/schema does not ship): DataQuery's fields plus the Prometheus ones.
export interface PromTarget {
  refId: string;
  datasource: { type: "prometheus"; uid: string };
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  range?: boolean;
  format?: "time_series" | "table" | "heatmap";
  interval?: string;
  intervalFactor?: number;
  hide?: boolean;
  exemplar?: boolean;
  editorMode?: "code" | "builder";
  queryType?: string;
}

// The query of a Prometheus template variable (`label_values(...)` and friends).
export interface PromVariableQuery {
  query: string;
  refId: string;
  qryType?: number;
}
