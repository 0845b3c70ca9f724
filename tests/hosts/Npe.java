// Npe.java — a JVM throwing and catching 100,000 NullPointerExceptions: HotSpot turns the
// faults of its implicit null checks into exceptions with its own SIGSEGV handler.
public class Npe {
    public static void main(String[] args) {
        int caught = 0;
        String s = null;
        for (int i = 0; i < 100000; i++) {
            try {
                s.length();
            } catch (NullPointerException e) {
                caught++;
            }
        }
        System.out.println("caught " + caught);
    }
}
