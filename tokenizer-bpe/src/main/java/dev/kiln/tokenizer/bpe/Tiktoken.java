package dev.kiln.tokenizer.bpe;

import dev.kiln.api.KilnException;
import dev.kiln.api.io.Json;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * tiktoken's published vocabularies: a {@code .tiktoken} rank file (one "base64(token bytes) rank" per line) with a
 * {@code .json} sidecar beside it giving the split pattern ({@code pat_str}) and the special tokens.
 */
public final class Tiktoken {
    private Tiktoken() {
    }

    public static BpeTokenizer load(Path rankFile) {
        String name = rankFile.getFileName().toString();
        Path sidecar = rankFile.resolveSibling(name.replaceFirst("\\.tiktoken$", "") + ".json");
        Map<?, ?> meta = readSidecar(sidecar);
        Object pattern = meta.get("pat_str");
        if (!(pattern instanceof String)) {
            throw new KilnException(sidecar + ": no pat_str (the split pattern)");
        }
        Map<String, Integer> special = new LinkedHashMap<>();
        if (meta.get("special_tokens") instanceof Map<?, ?> tokens) {
            tokens.forEach((text, id) -> special.put((String) text, HuggingFaceFiles.tokenId(id,
                    "special_tokens[\"" + text + "\"]", sidecar)));
        }
        return new BpeTokenizer(readRanks(rankFile), special, (String) pattern);
    }

    private static Map<?, ?> readSidecar(Path sidecar) {
        try {
            if (Json.parse(Files.readString(sidecar), sidecar.toString()) instanceof Map<?, ?> map) {
                return map;
            }
            throw new KilnException(sidecar + " is not a JSON object");
        } catch (IOException e) {
            throw new KilnException("cannot read the tiktoken sidecar " + sidecar + " (it gives the split pattern and "
                    + "special tokens): " + e.getMessage(), e);
        }
    }

    /** Token bytes by rank; a malformed line is an error naming the file and line. */
    static byte[][] readRanks(Path rankFile) {
        List<byte[]> byRank = new ArrayList<>();
        Base64.Decoder base64 = Base64.getDecoder();
        try (BufferedReader reader = Files.newBufferedReader(rankFile, StandardCharsets.US_ASCII)) {
            String line;
            int lineNumber = 0;
            while ((line = reader.readLine()) != null) {
                lineNumber++;
                if (line.isEmpty()) {
                    continue;
                }
                int space = line.indexOf(' ');
                try {
                    if (space < 0) {
                        throw new IllegalArgumentException("expected 'base64 rank'");
                    }
                    byte[] token = base64.decode(line.substring(0, space));
                    int rank = Integer.parseInt(line.substring(space + 1).trim());
                    if (rank < 0 || rank > 10_000_000) {
                        throw new IllegalArgumentException("rank " + rank + " is out of range");
                    }
                    while (byRank.size() <= rank) {
                        byRank.add(null);
                    }
                    if (byRank.get(rank) != null) {
                        throw new IllegalArgumentException("rank " + rank + " appears twice");
                    }
                    byRank.set(rank, token);
                } catch (IllegalArgumentException e) {
                    throw new KilnException(rankFile + " line " + lineNumber + ": " + e.getMessage(), e);
                }
            }
        } catch (IOException e) {
            throw new KilnException("cannot read tiktoken rank file " + rankFile + ": " + e.getMessage(), e);
        }
        if (byRank.isEmpty()) {
            throw new KilnException(rankFile + " holds no tokens");
        }
        return byRank.toArray(byte[][]::new);
    }
}
