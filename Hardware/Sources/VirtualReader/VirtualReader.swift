public enum VRPlaceholder {}
