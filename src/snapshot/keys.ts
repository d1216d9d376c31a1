/**
 * Names of the bodies in a snapshot that are looked up by key: the renderers write under these and the
 * front end reads through them, so neither spells a key itself.
 */

/**
 * jsonKey names every JSON body in the snapshot.
 * Target names never contain `:` or `/` (config), and routes.ts rejects ids that decode to `/`.
 */
export const jsonKey = {
  node: (): string => 'json:node',
  containers: (): string => 'json:containers',
  container: (id: string): string => `json:container:${id}`,
  app: (id: string): string => `json:app:${id}`,
  appMetric: (id: string, metricId: string): string => `json:app-metric:${id}/${metricId}`,
  ping: (): string => 'json:ping',
} as const;

/** hdrKey names a target's HDR export bodies in the snapshot. */
export const hdrKey = {
  base64: (target: string): string => `hdr:${target}`,
  hgrm: (target: string): string => `hgrm:${target}`,
} as const;

/** isHdrKey tells the HDR export keys from the snapshot's other keys. */
export function isHdrKey(key: string): boolean {
  return key.startsWith('hdr:') || key.startsWith('hgrm:');
}
