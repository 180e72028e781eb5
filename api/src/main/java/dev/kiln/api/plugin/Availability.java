package dev.kiln.api.plugin;

/** The answer of {@link Provider#probe()}: available, or not with a reason a user can act on. */
public record Availability(boolean available, String reason) {
    public static Availability yes() {
        return new Availability(true, "");
    }

    public static Availability no(String reason) {
        return new Availability(false, reason);
    }
}
