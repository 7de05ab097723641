// Small previews: the placeholder first, then a small variant fetched with
// the key once the image scrolls into view.
import { assetUrl, image, type EntrySummary } from "./api";
import { h } from "./dom";
import { placeholder } from "./lqip";

/** The variant previews use: small, square, WebP, one cached variant per entry. */
export const PREVIEW = "w=160&h=160&fit=cover&format=webp";

const observer = new IntersectionObserver((seen) => {
  for (const item of seen) {
    if (!item.isIntersecting) continue;
    observer.unobserve(item.target);
    const img = item.target as HTMLImageElement;
    const source = img.dataset.source;
    if (!source) continue;
    image(source)
      .then((fetched) => {
        img.src = fetched.url;
        img.classList.remove("placeholder");
      })
      .catch(() => img.classList.add("unavailable"));
  }
});

export function thumbnail(entry: EntrySummary, alt = entry.alt ?? ""): HTMLImageElement {
  const aspect = entry.original.width / Math.max(1, entry.original.height);
  const img = h("img", {
    class: "thumb placeholder",
    alt,
    width: 80,
    height: 80,
    src: placeholder(entry.lqip, aspect),
    "data-source": assetUrl(entry.path, `entry/${entry.entry}/content`, PREVIEW),
  });
  observer.observe(img);
  return img;
}
