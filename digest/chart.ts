/**
 * A bar chart as a PNG, drawn pixel by pixel (pure JS, works offline): one bar per value, the last
 * `highlight` bars in the accent colour (this week), the rest grey (last week), on a baseline.
 */
export async function barChartPng(
  values: readonly number[],
  opts: { width?: number; height?: number; highlight?: number } = {},
): Promise<Buffer> {
  // Loaded when a digest is drawn (weekly), not carried by every ingest process.
  const { PNG } = await import("pngjs");
  const width = opts.width ?? 600;
  const height = opts.height ?? 200;
  const png = new PNG({ width, height });
  const fill = (x0: number, y0: number, x1: number, y1: number, [r, g, b]: readonly number[]) => {
    for (let y = Math.max(0, y0); y < Math.min(height, y1); y++) {
      for (let x = Math.max(0, x0); x < Math.min(width, x1); x++) {
        const i = (y * width + x) * 4;
        png.data[i] = r as number;
        png.data[i + 1] = g as number;
        png.data[i + 2] = b as number;
        png.data[i + 3] = 255;
      }
    }
  };
  fill(0, 0, width, height, [255, 255, 255]);
  const pad = 10;
  const max = Math.max(1, ...values);
  const slot = (width - 2 * pad) / Math.max(1, values.length);
  const highlight = opts.highlight ?? 7;
  values.forEach((v, i) => {
    const h = Math.round((v / max) * (height - 2 * pad));
    const x = Math.round(pad + i * slot + slot * 0.15);
    const colour = i >= values.length - highlight ? [52, 120, 246] : [170, 170, 170];
    fill(x, height - pad - h, Math.round(x + slot * 0.7), height - pad, colour);
  });
  fill(pad, height - pad, width - pad, height - pad + 1, [60, 60, 60]);
  return PNG.sync.write(png);
}
