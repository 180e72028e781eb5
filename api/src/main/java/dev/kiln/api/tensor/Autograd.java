package dev.kiln.api.tensor;

import dev.kiln.api.backend.BinaryOp;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The reverse pass: orders the recorded graph topologically (iteratively — an unrolled LSTM is deep), then hands each
 * node its output's summed gradient and routes the input gradients it returns. Written once, over tensor operations
 * only; no backend knows it exists.
 *
 * <p>A tensor used many times (a recurrent weight, a sequence sliced one step at a time) gets one gradient buffer: the
 * first contribution is kept as it is, the second is added into a fresh buffer that this pass owns, and every later one
 * is added in place. Nodes with a {@link Tensor.RegionBackward} (slice, select) add their piece straight into that
 * buffer instead of materialising a zero tensor of the whole input, so a T-step recurrence costs O(T) memory.
 */
final class Autograd {
    private Autograd() {
    }

    /** The gradient summed so far for one tensor; {@code owned} once this pass allocated it and may add in place. */
    private static final class Pending {
        Tensor value;
        boolean owned;

        Pending(Tensor value, boolean owned) {
            this.value = value;
            this.owned = owned;
        }
    }

    static void backward(Tensor root, Tensor seed, java.util.function.Consumer<Tensor> leafReady) {
        List<Tensor> order = topologicalOrder(root);
        Map<Tensor, Pending> pending = new IdentityHashMap<>();
        pending.put(root, new Pending(seed, false));
        try (var ignored = GradMode.noGrad()) {
            for (int i = order.size() - 1; i >= 0; i--) {
                Tensor t = order.get(i);
                Pending p = pending.remove(t);
                if (p == null) {
                    continue;
                }
                Tensor g = p.value;
                if (t.gradFn == null) {
                    if (t.requiresGrad()) {
                        t.accumulateGrad(g);
                        if (leafReady != null) {
                            leafReady.accept(t);
                        }
                    }
                    continue;
                }
                Tensor[] inputs = t.gradFn.inputs();
                if (t.gradFn.region() != null) {
                    Tensor input = inputs[0];
                    if (input.requiresGrad()) {
                        t.gradFn.region().addInto(g, ownedBuffer(pending, input));
                    }
                    continue;
                }
                Tensor[] grads = t.gradFn.backward().apply(g);
                for (int j = 0; j < inputs.length; j++) {
                    Tensor input = inputs[j];
                    if (grads[j] != null && input.requiresGrad()) {
                        accumulate(pending, input, grads[j]);
                    }
                }
            }
        }
    }

    private static void accumulate(Map<Tensor, Pending> pending, Tensor input, Tensor gradient) {
        Pending previous = pending.get(input);
        if (previous == null) {
            pending.put(input, new Pending(gradient, false));
        } else if (previous.owned && Arrays.equals(previous.value.shape(), gradient.shape())) {
            accumulateInto(previous.value, gradient);
        } else {
            previous.value = previous.value.add(gradient);     // a fresh dense tensor nothing else refers to
            previous.owned = true;
        }
    }

    /** The gradient buffer of {@code input}, dense, owned by this pass: zeros the first time. */
    private static Tensor ownedBuffer(Map<Tensor, Pending> pending, Tensor input) {
        Pending previous = pending.get(input);
        if (previous == null) {
            Tensor zeros = Tensor.zeros(input.backend(), input.shape());
            pending.put(input, new Pending(zeros, true));
            return zeros;
        }
        if (!previous.owned) {
            Tensor copy = Tensor.zeros(input.backend(), input.shape());
            accumulateInto(copy, previous.value);
            previous.value = copy;
            previous.owned = true;
        }
        return previous.value;
    }

    private static void accumulateInto(Tensor buffer, Tensor gradient) {
        int[] dense = {1};
        buffer.backend().binary(BinaryOp.ADD, buffer.storage(), dense, gradient.storage(), dense, buffer.storage(),
                new int[] {buffer.numel()});
    }

    /** Post-order of the nodes reachable from root that need a gradient (inputs before the tensors made from them). */
    private static List<Tensor> topologicalOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        Map<Tensor, Boolean> visited = new IdentityHashMap<>();
        Deque<Tensor> stack = new ArrayDeque<>();
        Deque<Integer> nextInput = new ArrayDeque<>();
        stack.push(root);
        nextInput.push(0);
        visited.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Tensor t = stack.peek();
            int i = nextInput.pop();
            Tensor[] inputs = t.gradFn == null ? new Tensor[0] : t.gradFn.inputs();
            if (i < inputs.length) {
                nextInput.push(i + 1);
                Tensor input = inputs[i];
                if (input.requiresGrad() && visited.put(input, Boolean.TRUE) == null) {
                    stack.push(input);
                    nextInput.push(0);
                }
            } else {
                stack.pop();
                order.add(t);
            }
        }
        return order;
    }
}
