package dev.kiln.api;

/** The one unchecked exception Kiln throws for bad input, bad files and backend failures; its message names what is wrong. */
public class KilnException extends RuntimeException {
    public KilnException(String message) {
        super(message);
    }

    public KilnException(String message, Throwable cause) {
        super(message, cause);
    }
}
