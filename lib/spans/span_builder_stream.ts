/**
 * The span builder as a `TransformStream`: events in, finished spans out, with
 * a periodic sweep that evicts expired spans even when no events arrive.
 * @module
 */
import type { ProbeEvent } from "../streams/probe_events.ts";
import type { SpanBuilder } from "./span_builder.ts";
import type { SpanData } from "../core/span_data.ts";

/** What happens to spans still open when the input ends. */
export type OpenSpanRule = "end" | "drop";

/** events → spans. On end of input, open spans are ended (`"end"`, default) or dropped. */
export function spanBuilderStream(
  builder: SpanBuilder,
  options: {
    sweepIntervalMs?: number;
    atEnd?: OpenSpanRule;
    onDropOpen?: (n: number) => void;
  } = {},
): TransformStream<ProbeEvent[], SpanData[]> {
  let timer: ReturnType<typeof setInterval> | undefined;
  return new TransformStream<ProbeEvent[], SpanData[]>({
    start(controller) {
      timer = setInterval(() => {
        const evicted = builder.sweep();
        if (evicted.length) controller.enqueue(evicted);
      }, options.sweepIntervalMs ?? 1000);
    },
    transform(events, controller) {
      const spans = builder.add(events);
      if (spans.length) controller.enqueue(spans);
    },
    flush(controller) {
      clearInterval(timer);
      const swept = builder.sweep();
      if (swept.length) controller.enqueue(swept);
      if ((options.atEnd ?? "end") === "drop") {
        const n = builder.discard();
        if (n) options.onDropOpen?.(n);
        return;
      }
      const drained = builder.drain();
      if (drained.length) controller.enqueue(drained);
    },
    cancel() {
      clearInterval(timer);
    },
  });
}
