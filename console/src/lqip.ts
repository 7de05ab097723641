// The placeholders Kiln computes at upload (SPEC §4), drawn before any
// preview arrives: ThumbHash where there is one, else BlurHash.
import { decode as decodeBlurhash } from "blurhash";
import { thumbHashToDataURL } from "thumbhash";

import type { Lqip } from "./api";

export function placeholder(lqip: Lqip | null | undefined, aspect: number): string | null {
  try {
    if (lqip?.thumbhash) {
      const raw = atob(lqip.thumbhash);
      return thumbHashToDataURL(Uint8Array.from(raw, (c) => c.charCodeAt(0)));
    }
    if (lqip?.blurhash) {
      const width = 32;
      const height = Math.max(1, Math.round(width / (aspect || 1)));
      const canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
      const context = canvas.getContext("2d");
      if (!context) return null;
      const pixels = new Uint8ClampedArray(decodeBlurhash(lqip.blurhash, width, height));
      context.putImageData(new ImageData(pixels, width, height), 0, 0);
      return canvas.toDataURL();
    }
  } catch {
    // A placeholder that does not decode is only a missing placeholder.
  }
  return null;
}
