package dev.kiln.serve;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A request the server refuses, answered in OpenAI's error envelope {@code {"error": {message, type, param, code}}}
 * with the HTTP status that says whether retrying can help.
 */
final class ApiError extends RuntimeException {
    final int status;
    final String type;
    final String param;
    final String code;

    ApiError(int status, String type, String message, String param, String code) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** A field with a wrong type or value, or a request the model cannot answer (400). */
    static ApiError invalid(String message, String param) {
        return new ApiError(400, "invalid_request_error", message, param, null);
    }

    static ApiError invalid(String message, String param, String code) {
        return new ApiError(400, "invalid_request_error", message, param, code);
    }

    Map<String, Object> envelope() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return Map.of("error", error);
    }
}
