/**
 * ISO 639-1: the 183 two-letter language codes currently assigned.
 * UA reports and machine-learning models split by language, so a value outside this list would silently
 * create a language of its own.
 */
const ISO_639_1 = new Set(
  (
    'aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el ' +
    'en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it ' +
    'iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt ' +
    'my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl ' +
    'sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo ' +
    'za zh zu'
  ).split(' '),
);

/**
 * The ISO 639-1 code of a language tag, lower-cased, or undefined when the tag is not a well-formed BCP 47
 * tag whose primary subtag is an ISO 639-1 code. Browsers send `<html lang>` verbatim (`en-US`, `pt-BR`,
 * `zh-Hant-TW`), and reports split by the code alone. `_` is read as `-`, since Java-style locales
 * (`fr_CA`) are common in search pages and were always accepted here.
 *
 * The primary subtag is read from the tag as sent, not from its canonical form: Intl would turn `tl` into
 * `fil`, a code outside ISO 639-1, and `iw` into `he`, accepting a code that was withdrawn.
 */
export function languageCode(tag: string): string | undefined {
  // Intl's parser costs microseconds, and every event asks twice (its check, then what it stores), while a
  // site sends a handful of tags: each is parsed once. Bounded, so that junk tags cannot grow it for ever.
  const known = KNOWN_TAGS.get(tag);
  if (known !== undefined) return known === false ? undefined : known;
  const code = parseLanguageTag(tag);
  if (KNOWN_TAGS.size >= KNOWN_TAGS_MAX) KNOWN_TAGS.clear();
  KNOWN_TAGS.set(tag, code ?? false);
  return code;
}

const KNOWN_TAGS = new Map<string, string | false>();
const KNOWN_TAGS_MAX = 10_000;

function parseLanguageTag(tag: string): string | undefined {
  const normalised = tag.replaceAll('_', '-');
  const primary = normalised.split('-', 1)[0]?.toLowerCase() ?? '';
  if (!ISO_639_1.has(primary)) return undefined;
  try {
    // Well-formedness by the platform's own BCP 47 parser: no empty, duplicate or misplaced subtags.
    Intl.getCanonicalLocales(normalised);
  } catch {
    return undefined;
  }
  return primary;
}

export const isLanguage = (value: string): boolean => languageCode(value) !== undefined;

/** What an event stores of its language: the ISO 639-1 code, and the whole tag as the client sent it. */
export function languageFields(tag: string | null): { language: string | null; languageTag: string | null } {
  if (tag === null) return { language: null, languageTag: null };
  return { language: languageCode(tag) ?? null, languageTag: tag };
}
