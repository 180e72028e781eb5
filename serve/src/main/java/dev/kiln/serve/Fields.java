package dev.kiln.serve;

import dev.kiln.api.plugin.Spelling;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Typed reads of a request body's fields, each wrong type or out-of-range value a 400 that names the field. A field
 * the endpoint does not know is refused too, naming the closest known one, so a typo never passes silently.
 */
final class Fields {
    private final Map<String, Object> body;

    private Fields(Map<String, Object> body) {
        this.body = body;
    }

    @SuppressWarnings("unchecked")
    static Fields of(Object parsed, Set<String> known) {
        if (!(parsed instanceof Map<?, ?> map)) {
            throw ApiError.invalid("the request body must be a JSON object", null);
        }
        for (Object key : map.keySet()) {
            if (!known.contains((String) key)) {
                throw ApiError.invalid("unrecognized request argument supplied: " + key + Spelling.nearest(
                        (String) key, known).map(n -> " (did you mean " + n + "?)").orElse(""), (String) key,
                        "unknown_parameter");
            }
        }
        return new Fields((Map<String, Object>) map);
    }

    boolean has(String name) {
        return body.get(name) != null;
    }

    Object raw(String name) {
        return body.get(name);
    }

    String string(String name, String otherwise) {
        Object v = body.get(name);
        if (v == null) {
            return otherwise;
        }
        if (!(v instanceof String s)) {
            throw ApiError.invalid(name + " must be a string, got " + describe(v), name);
        }
        return s;
    }

    boolean bool(String name, boolean otherwise) {
        Object v = body.get(name);
        if (v == null) {
            return otherwise;
        }
        if (!(v instanceof Boolean b)) {
            throw ApiError.invalid(name + " must be a boolean, got " + describe(v), name);
        }
        return b;
    }

    double number(String name, double otherwise, double min, double max) {
        Object v = body.get(name);
        if (v == null) {
            return otherwise;
        }
        if (!(v instanceof Number n)) {
            throw ApiError.invalid(name + " must be a number, got " + describe(v), name);
        }
        double d = n.doubleValue();
        if (!(d >= min && d <= max)) {
            throw ApiError.invalid(name + " must be between " + min + " and " + max + ", got " + v, name);
        }
        return d;
    }

    long integer(String name, long otherwise, long min, long max) {
        Object v = body.get(name);
        if (v == null) {
            return otherwise;
        }
        if (!(v instanceof Long l)) {
            throw ApiError.invalid(name + " must be an integer, got " + describe(v), name);
        }
        if (l < min || l > max) {
            throw ApiError.invalid(name + " must be between " + min + " and " + max + ", got " + l, name);
        }
        return l;
    }

    /** {@code stop}: a string or a list of up to 4 non-empty strings. */
    List<String> stop() {
        Object v = body.get("stop");
        List<String> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        if (v instanceof String s) {
            out.add(s);
        } else if (v instanceof List<?> list && list.size() <= 4) {
            for (Object item : list) {
                if (!(item instanceof String s)) {
                    throw ApiError.invalid("stop must hold strings, got " + describe(item), "stop");
                }
                out.add(s);
            }
        } else {
            throw ApiError.invalid("stop must be a string or a list of at most 4 strings", "stop");
        }
        if (out.stream().anyMatch(String::isEmpty)) {
            throw ApiError.invalid("stop strings must not be empty", "stop");
        }
        return out;
    }

    /** A field Kiln accepts only at its neutral value (penalties, logit bias): anything else is refused. */
    void neutral(String name, Object neutralValue) {
        Object v = body.get(name);
        if (v == null) {
            return;
        }
        boolean neutral = v instanceof Number n && neutralValue instanceof Number m
                ? n.doubleValue() == m.doubleValue() : v.equals(neutralValue);
        if (!neutral) {
            throw ApiError.invalid(name + " is not supported by this server (only " + neutralValue + ")", name);
        }
    }

    static String describe(Object v) {
        return switch (v) {
            case null -> "null";
            case String s -> "a string";
            case Boolean b -> "a boolean";
            case Long l -> "the integer " + l;
            case Number n -> "the number " + n;
            case List<?> l -> "an array";
            case Map<?, ?> m -> "an object";
            default -> v.getClass().getSimpleName();
        };
    }
}
