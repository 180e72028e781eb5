package dev.kiln.api.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The reverse pass: orders the recorded graph topologically (iteratively — an unrolled LSTM is deep), then hands each
 * node its output's summed gradient and routes the input gradients it returns. Written once, over tensor operations
 * only; no backend knows it exists.
 */
final class Autograd {
    private Autograd() {
    }

    static void backward(Tensor root, Tensor seed) {
        List<Tensor> order = topologicalOrder(root);
        Map<Tensor, Tensor> pending = new IdentityHashMap<>();
        pending.put(root, seed);
        try (var ignored = GradMode.noGrad()) {
            for (int i = order.size() - 1; i >= 0; i--) {
                Tensor t = order.get(i);
                Tensor g = pending.remove(t);
                if (g == null) {
                    continue;
                }
                if (t.gradFn == null) {
                    if (t.requiresGrad()) {
                        t.accumulateGrad(g);
                    }
                    continue;
                }
                Tensor[] inputs = t.gradFn.inputs();
                Tensor[] grads = t.gradFn.backward().apply(g);
                for (int j = 0; j < inputs.length; j++) {
                    Tensor input = inputs[j];
                    if (grads[j] == null || !input.requiresGrad()) {
                        continue;
                    }
                    Tensor previous = pending.get(input);
                    pending.put(input, previous == null ? grads[j] : previous.add(grads[j]));
                }
            }
        }
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
