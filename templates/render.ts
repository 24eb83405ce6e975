// Handlebars templates (DESIGN §5.6): compiled in strict mode, so a missing field is an error and
// never an empty string in a boot menu or an install file; no HTML escaping, since none of the
// outputs is HTML. Templates are the *.hbs files next to this one, compiled once and cached.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { ErrorCode, LpmosError } from '../core/errors.ts';

const hb = Handlebars.create();
const cache = new Map<string, (context: object) => string>();
const NAME = /^[a-z0-9][a-z0-9._-]*$/;

function fail(name: string, e: unknown): LpmosError {
  return new LpmosError(ErrorCode.Internal, `template ${name}: ${(e as Error).message}`, { cause: e });
}

/** Compiles a template source; a syntax error throws here, a missing field when rendering. Errors name the template. */
export function compileTemplate(name: string, source: string): (context: object) => string {
  let fn: Handlebars.TemplateDelegate;
  try {
    hb.parse(source); // compile() is lazy: parse now so a broken template fails at load, not at first use
    fn = hb.compile(source, { strict: true, noEscape: true });
  } catch (e) {
    throw fail(name, e);
  }
  return (context) => {
    try {
      return fn(context);
    } catch (e) {
      throw fail(name, e);
    }
  };
}

/** Renders templates/<name>.hbs with `context`; throws LpmosError on a missing field or a bad template. */
export function renderTemplate(name: string, context: object): string {
  let fn = cache.get(name);
  if (!fn) {
    if (!NAME.test(name)) throw new LpmosError(ErrorCode.Internal, `template name "${name}" is not valid`);
    const file = join(import.meta.dirname, `${name}.hbs`);
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch (e) {
      throw fail(name, e);
    }
    fn = compileTemplate(name, source);
    cache.set(name, fn);
  }
  return fn(context);
}
